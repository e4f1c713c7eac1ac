/* mep_module: the MEP module firmware for an ESP32 / ESP32-C3 (Arduino).
 *
 * The firmware/core MEP client (src/firmware/core, linked into this sketch
 * folder, not copied) reads the meter over the MEP port; this sketch is its
 * board port: the HAL over the meter UART and two GPIOs (mep_port), the
 * settings in Preferences (mep_settings), the Home Assistant JSON contract
 * and a status page on the WebServer (mep_web, mep_dash), MQTT through
 * PubSubClient (mep_mqtt), mDNS as esp32-mep, and a serial console for the
 * settings. See README.md for flashing and first set-up.
 */
#include <ESPmDNS.h>
#include <PubSubClient.h>
#include <WebServer.h>
#include <WiFi.h>

#include "config.h"
#include "mep_mqtt.h"
#include "mep_port.h"
#include "mep_settings.h"
#include "mep_web.h"

static WebServer server(80);
static WiFiClient mqtt_net;
static MepMqtt mqtt(mqtt_net);
static MepPort port;
static MepSettings settings;
static MepWebCtx web;

static uint32_t wifi_started_ms;
static bool ap_started;
static bool mdns_started;
static uint32_t restart_at_ms;
static bool restart_pending;
static char console_line[128];
static size_t console_len;

/* (Re)start the MEP client from the settings; without a key it stays off
 * and the lines stay released (docs/module-behaviour.md 3: no key, no requests). */
static void start_core()
{
    mepc_config cfg;
    if (mep_settings_core_config(&settings, &cfg)) {
        port.start(cfg);
        Serial.printf("mep: client started (%s%s, poll %lu ms)\n", settings.use_mak ? "MAK" : "MBK",
                      settings.encrypt ? ", encrypted" : "", (unsigned long)settings.poll_ms);
    } else {
        Serial.println("mep: no key configured; set one at http://<module>/setup or with `mbk KEY` here");
    }
}

static void apply_settings(unsigned effects)
{
    if (effects & MEP_FX_CORE)
        start_core();
    if (effects & MEP_FX_MQTT)
        mqtt.configure(settings.mqtt_host, (uint16_t)settings.mqtt_port, settings.mqtt_prefix);
    if (effects & MEP_FX_WIFI) {
        /* a new network: restart once the reply has gone out */
        restart_pending = true;
        restart_at_ms = millis() + 1000;
    }
}

static void start_ap()
{
    WiFi.mode(settings.wifi_ssid[0] ? WIFI_AP_STA : WIFI_AP);
    WiFi.softAP(MEP_AP_SSID, MEP_AP_PASS);
    ap_started = true;
    Serial.printf("wifi: access point %s up at %s\n", MEP_AP_SSID, WiFi.softAPIP().toString().c_str());
}

static void start_wifi()
{
    wifi_started_ms = millis();
    if (!settings.wifi_ssid[0]) {
        start_ap(); /* first set-up: join esp32-mep and open /setup */
        return;
    }
    WiFi.mode(WIFI_STA);
    WiFi.setHostname(MEP_HOSTNAME);
    WiFi.begin(settings.wifi_ssid, settings.wifi_pass); /* returns at once; loop() watches it */
    Serial.printf("wifi: joining %s\n", settings.wifi_ssid);
}

/* Never blocks: the MEP client runs in the same loop (docs/module-behaviour.md S34). */
static void wifi_loop()
{
    bool up = WiFi.status() == WL_CONNECTED;
    if (up && !mdns_started) {
        Serial.printf("wifi: connected, address %s\n", WiFi.localIP().toString().c_str());
        if (MDNS.begin(MEP_HOSTNAME))
            MDNS.addService("http", "tcp", 80);
        mdns_started = true;
    }
    if (!up && !ap_started && millis() - wifi_started_ms > MEP_WIFI_JOIN_MS)
        start_ap(); /* keep trying the network, but make the module reachable */
}

/* Serial console: `mbk KEY`, `mqtt_host HOST`, ... (the names of /setup),
 * `show`, `restart`. One line at a time, 115200 baud. */
static void console_command(char *line)
{
    char *value = line;
    while (*value && *value != ' ' && *value != '=')
        value++;
    if (*value)
        *value++ = '\0';
    if (!strcmp(line, "show")) {
        bool secret;
        const char *name;
        for (size_t i = 0; (name = mep_settings_name(i, &secret)) != NULL; i++) {
            char v[80];
            mep_settings_show(&settings, name, v, sizeof v);
            Serial.printf("  %s = %s\n", name, v);
        }
        return;
    }
    if (!strcmp(line, "restart")) {
        port.flush_store();
        ESP.restart();
        return;
    }
    unsigned fx = 0;
    const char *err = mep_settings_set(&settings, line, value, &fx);
    if (err) {
        Serial.printf("console: %s: %s (commands: show, restart, NAME VALUE)\n", line, err);
        return;
    }
    mep_settings_save(&settings);
    Serial.printf("console: %s saved\n", line);
    apply_settings(fx);
}

static void console_loop()
{
    while (Serial.available() > 0) {
        int c = Serial.read();
        if (c == '\r' || c == '\n') {
            console_line[console_len] = '\0';
            if (console_len)
                console_command(console_line);
            console_len = 0;
        } else if (c >= 0x20 && console_len + 1 < sizeof console_line) {
            console_line[console_len++] = (char)c;
        }
    }
}

void setup()
{
    Serial.begin(115200);
    Serial.printf("\n%s %s on %s\n", MEP_SW_NAME, MEP_SW_VERSION, MEP_BOARD_NAME);
    mep_settings_load(&settings);

    MepPortPins pins = {&MEP_SERIAL, MEP_PIN_RX, MEP_PIN_TX, MEP_PIN_ENABLE_N, MEP_PIN_XCVR};
    port.begin(pins);

    start_wifi();
    web.port = &port;
    web.settings = &settings;
    web.mqtt = &mqtt;
    web.http_requests = 0;
    web.apply = apply_settings;
    mep_web_begin(server, &web);
    mqtt.configure(settings.mqtt_host, (uint16_t)settings.mqtt_port, settings.mqtt_prefix);
    start_core();
}

void loop()
{
    port.loop();          /* the meter first: it has the tightest timing */
    server.handleClient();
    port.loop();
    wifi_loop();
    mqtt.loop(port.readings(), millis());
    console_loop();
    if (restart_pending && (int32_t)(millis() - restart_at_ms) >= 0) {
        port.flush_store();
        ESP.restart();
    }
    delay(1);             /* let the idle task run (watchdog) */
}
