// chip.cpp: part of the reboot test sketch's src/ folder, which Arduino compiles recursively.
#include "chip.h"

String chipText() {
  return String(ESP.getChipModel()) + " rev " + ESP.getChipRevision();
}
