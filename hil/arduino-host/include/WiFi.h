/* WiFi.h: the ESP32 WiFi interface (Arduino-ESP32 API: WiFiClass, global WiFi) for a board whose
 * network is the host's loopback. Station mode "joins" any non-empty SSID at once
 * (WL_CONNECTED, local address 127.0.0.1, where the rig reaches the board's servers); an empty
 * SSID fails as on the board (WL_CONNECT_FAILED). softAP() succeeds and reports the board's
 * default soft-AP address 192.168.4.1; the servers stay on 127.0.0.1. Every change is logged. */
#ifndef AHK_WIFI_H
#define AHK_WIFI_H

#include <stdint.h>
#include "Arduino.h"
#include "IPAddress.h"
#include "WiFiClient.h"
#include "WiFiServer.h"

typedef enum {
    WL_NO_SHIELD = 255,
    WL_IDLE_STATUS = 0,
    WL_NO_SSID_AVAIL = 1,
    WL_SCAN_COMPLETED = 2,
    WL_CONNECTED = 3,
    WL_CONNECT_FAILED = 4,
    WL_CONNECTION_LOST = 5,
    WL_DISCONNECTED = 6
} wl_status_t;

typedef enum {
    WIFI_MODE_NULL = 0, WIFI_MODE_STA, WIFI_MODE_AP, WIFI_MODE_APSTA, WIFI_MODE_MAX
} wifi_mode_t;
#define WIFI_OFF   WIFI_MODE_NULL
#define WIFI_STA   WIFI_MODE_STA
#define WIFI_AP    WIFI_MODE_AP
#define WIFI_AP_STA WIFI_MODE_APSTA

typedef enum {
    WIFI_POWER_19_5dBm = 78, WIFI_POWER_19dBm = 76, WIFI_POWER_18_5dBm = 74, WIFI_POWER_17dBm = 68,
    WIFI_POWER_15dBm = 60, WIFI_POWER_13dBm = 52, WIFI_POWER_11dBm = 44, WIFI_POWER_8_5dBm = 34,
    WIFI_POWER_7dBm = 28, WIFI_POWER_5dBm = 20, WIFI_POWER_2dBm = 8, WIFI_POWER_MINUS_1dBm = -4
} wifi_power_t;

class WiFiClass {
public:
    WiFiClass();

    /* station */
    wl_status_t begin(const char *ssid, const char *passphrase = nullptr, int32_t channel = 0,
                      const uint8_t *bssid = nullptr, bool connect = true);
    wl_status_t begin(char *ssid, char *passphrase = nullptr, int32_t channel = 0,
                      const uint8_t *bssid = nullptr, bool connect = true);
    wl_status_t begin();
    bool config(IPAddress local_ip, IPAddress gateway, IPAddress subnet,
                IPAddress dns1 = IPAddress(), IPAddress dns2 = IPAddress());
    bool reconnect();
    bool disconnect(bool wifioff = false, bool eraseap = false);
    bool isConnected() { return status() == WL_CONNECTED; }
    bool setAutoReconnect(bool autoReconnect) { auto_reconnect_ = autoReconnect; return true; }
    bool getAutoReconnect() { return auto_reconnect_; }
    bool setAutoConnect(bool) { return true; }
    uint8_t waitForConnectResult(unsigned long timeoutLength = 60000);
    wl_status_t status();

    IPAddress localIP();
    IPAddress subnetMask();
    IPAddress gatewayIP();
    IPAddress dnsIP(uint8_t dns_no = 0);
    IPAddress broadcastIP();
    uint8_t *macAddress(uint8_t *mac);
    String macAddress();
    String SSID() const;
    String psk() const;
    uint8_t *BSSID();
    String BSSIDstr();
    int8_t RSSI();
    int32_t channel();

    bool setHostname(const char *hostname);
    const char *getHostname();

    /* soft access point */
    bool softAP(const char *ssid, const char *passphrase = nullptr, int channel = 1,
                int ssid_hidden = 0, int max_connection = 4, bool ftm_responder = false);
    bool softAPConfig(IPAddress local_ip, IPAddress gateway, IPAddress subnet);
    bool softAPdisconnect(bool wifioff = false);
    uint8_t softAPgetStationNum();
    IPAddress softAPIP();
    IPAddress softAPBroadcastIP();
    IPAddress softAPSubnetMask();
    uint8_t *softAPmacAddress(uint8_t *mac);
    String softAPmacAddress();
    const char *softAPgetHostname();
    bool softAPsetHostname(const char *hostname);

    /* generic */
    bool mode(wifi_mode_t m);
    wifi_mode_t getMode();
    bool enableSTA(bool enable);
    bool enableAP(bool enable);
    bool setSleep(bool enabled) { sleep_ = enabled; return true; }
    bool getSleep() { return sleep_; }
    bool setTxPower(wifi_power_t power) { power_ = power; return true; }
    wifi_power_t getTxPower() { return power_; }
    void persistent(bool persistent) { persistent_ = persistent; }
    int hostByName(const char *aHostname, IPAddress &aResult);

private:
    wl_status_t sta_status_;
    wifi_mode_t mode_;
    String ssid_, psk_, hostname_, ap_ssid_;
    IPAddress ap_ip_, ap_mask_;
    uint8_t bssid_[6];
    bool auto_reconnect_ = true, sleep_ = true, persistent_ = true;
    wifi_power_t power_ = WIFI_POWER_19_5dBm;
};

extern WiFiClass WiFi;

#endif
