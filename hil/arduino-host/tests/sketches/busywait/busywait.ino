/* busywait: a sketch that waits the naive way, for the kit's virtual time
 * (README.md, "Virtual time"; tests/integration/test_cosim_sketch.py).
 *
 * It spins on millis() for 500 ms at a time, twenty times, then releases the
 * meter's ENABLE line (so nothing can ever arrive) and spins in
 * `while (!Serial2.available())` for good. On a board both loops burn the
 * CPU; under virtual time each poll of the clock or of the empty UART moves
 * the clock by a quantum, so the run reaches its end instead of hanging. */

#define METER_ENABLE_PIN 5   /* docs/module-behaviour.md 2: LOW = asserted (inverting stage) */

static int rounds;

void setup() {
  Serial.begin(115200);
  Serial2.begin(9600, SERIAL_8N1, 16, 17);
  pinMode(METER_ENABLE_PIN, OUTPUT);
  digitalWrite(METER_ENABLE_PIN, LOW);
  Serial.println("busywait: starting");
}

void loop() {
  unsigned long t = millis();
  while (millis() - t < 500) {
  }
  rounds++;
  Serial.printf("busywait: spun 500 ms on millis(), round %d, now %lu ms\n", rounds, millis());
  if (rounds == 20) {
    digitalWrite(METER_ENABLE_PIN, HIGH);  /* the meter stays silent from now on */
    Serial.println("busywait: waiting for a byte that never comes");
    while (!Serial2.available()) {
    }
    Serial.println("busywait: a byte arrived");
  }
}
