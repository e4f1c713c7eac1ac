/* config.h: build-time defaults of the MEP module sketch.
 *
 * The pins follow the reference hardware (docs/module-behaviour.md 2): variant A
 * (ESP32) drives the meter ENABLE through an inverting stage on GPIO5 (LOW =
 * asserted) and the MAX3232 supply on GPIO32 (HIGH = powered), meter line on
 * UART2; variant B (ESP32-C3) has ENABLE on GPIO5 only and the meter line on
 * GPIO6 (RX) / GPIO7 (TX), here on the C3's second hardware UART.
 *
 * The settings below are only the first-boot defaults: they are copied into
 * Preferences (NVS) once, and from then on the module uses what is stored
 * there, changed through the /setup page or the serial console (README.md).
 * Put your MBK here before flashing if you prefer not to type it in later.
 */
#ifndef MEP_CONFIG_H
#define MEP_CONFIG_H

#if defined(CONFIG_IDF_TARGET_ESP32C3) || defined(ARDUINO_ESP32C3_DEV)
#define MEP_BOARD_NAME "esp32c3"
#define MEP_SERIAL Serial1
#define MEP_PIN_RX 6
#define MEP_PIN_TX 7
#define MEP_PIN_ENABLE_N 5   /* output LOW = meter ENABLE asserted */
#define MEP_PIN_XCVR (-1)    /* no transceiver control on variant B */
#else
#define MEP_BOARD_NAME "esp32"
#define MEP_SERIAL Serial2
#define MEP_PIN_RX 16
#define MEP_PIN_TX 17
#define MEP_PIN_ENABLE_N 5   /* output LOW = meter ENABLE asserted */
#define MEP_PIN_XCVR 32      /* output HIGH = MAX3232 powered */
#endif

#define MEP_BAUD 9600u       /* docs/module-behaviour.md 2: 9600 8N1, never changed */
#define MEP_RX_BUFFER 1024u
#define MEP_LOG_LEVEL 2      /* core log lines shown on Serial: 0 error .. 3 debug (every frame) */  /* > one 478-byte frame, so a busy loop() loses nothing */

/* First-boot defaults (copied into Preferences once). */
#define MEP_DEFAULT_MBK ""             /* 20 characters from the utility, or 32/40 hex digits */
#define MEP_DEFAULT_MAK ""
#define MEP_DEFAULT_WIFI_SSID ""       /* empty: start the set-up access point */
#define MEP_DEFAULT_WIFI_PASS ""
#define MEP_DEFAULT_MQTT_HOST ""       /* empty: no MQTT */
#define MEP_DEFAULT_MQTT_PORT 1883u
#define MEP_DEFAULT_MQTT_PREFIX "esp32-mep"
#define MEP_DEFAULT_POLL_MS 2000u

/* Network identity the HA integration assumes (docs/module-behaviour.md 8.1). */
#define MEP_HOSTNAME "esp32-mep"
#define MEP_AP_SSID "esp32-mep"
#define MEP_AP_PASS "12345678"
#define MEP_WIFI_JOIN_MS 30000u        /* then open the access point as well */

/* Firmware identity members of /getDashDataWS. */
#define MEP_SW_NAME "mep_module"
#define MEP_SW_BY "osgp-mep-emulator project"
#define MEP_SW_VERSION "0.1.0 (" __DATE__ " " __TIME__ ")"

#endif
