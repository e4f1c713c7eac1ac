// reboot.ino: a kit test sketch. Counts its boots in Preferences: the first boot calls
// ESP.restart(), the second crashes (a board panics and reboots), the third reports, so
// Preferences persistence across restarts and the launcher's reboot counting are checked
// together (tests/run.sh). Uses a function before its definition and
// one from a second .ino file, which the kit's prototype generation must make work.
#include <Preferences.h>

Preferences prefs;

void setup() {
  Serial.begin(115200);
  prefs.begin("boot");
  unsigned n = prefs.getUInt("count", 0) + 1;
  prefs.putUInt("count", n);
  report(n);
  if (n == 1) {
    delay(20);
    ESP.restart();
  }
  if (n == 2) {
    volatile int *nowhere = nullptr;
    *nowhere = 1;
  }
  Serial.println(helperText());
}

void loop() {
  delay(1000);
}

#ifdef ARDUINO_ESP32C3_DEV
void onlyOnC3(SoftwareSerial &s) { s.write(1); }
#endif

void report(unsigned n) {
  Serial.printf("boot count %u, uptime %lu ms\n", n, millis());
}
