/* avr/pgmspace.h: the ESP32 core keeps this AVR path for old sketches; same as pgmspace.h. */
#include "../pgmspace.h"
