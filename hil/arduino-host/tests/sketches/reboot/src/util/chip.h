// chip.h: part of the reboot test sketch's src/ folder, which Arduino compiles recursively.
#pragma once
#include <Arduino.h>

String chipText();
