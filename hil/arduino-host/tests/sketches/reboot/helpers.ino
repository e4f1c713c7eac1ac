// helpers.ino: the second .ino file of the reboot test sketch (concatenated after reboot.ino).
#include "src/util/chip.h"

String helperText() {
  return String("done after ") + chipText();
}
