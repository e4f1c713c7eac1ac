// missing_header.ino: a kit test sketch that includes a library the kit does not provide;
// the build must fail and name the header.
#include <FooBarSensor.h>

void setup() {}
void loop() {}
