/* wifi.cpp: the global WiFi object (include/WiFi.h) of a board whose network is the host's
 * loopback: station joins succeed at once for any non-empty SSID, the soft-AP reports the board's
 * default address, and every change of mode or connection is logged. */
#include <stdio.h>
#include <string.h>

#include "ahk_runtime.h"
#include "net_host.h"
#include "WiFi.h"

WiFiClass WiFi;

/* A fixed station MAC in Espressif's OUI, so a sketch deriving ids from it is stable. */
static const uint8_t kStaMac[6] = {0x24, 0x0A, 0xC4, 0x00, 0x4D, 0x50};
static const int8_t kRssi = -55;

WiFiClass::WiFiClass()
    : sta_status_(WL_DISCONNECTED), mode_(WIFI_MODE_NULL), ap_ip_(192, 168, 4, 1),
      ap_mask_(255, 255, 255, 0) {}

static bool sta_on(wifi_mode_t m) { return m == WIFI_MODE_STA || m == WIFI_MODE_APSTA; }
static bool ap_on(wifi_mode_t m) { return m == WIFI_MODE_AP || m == WIFI_MODE_APSTA; }

wl_status_t WiFiClass::begin(const char *ssid, const char *passphrase, int32_t, const uint8_t *, bool connect)
{
    if (!ssid || !*ssid || strlen(ssid) > 32) {
        ahk::log("WIFI", "begin: SSID too short or missing");
        sta_status_ = WL_CONNECT_FAILED;
        return sta_status_;
    }
    if (passphrase && strlen(passphrase) > 64) {
        ahk::log("WIFI", "begin: passphrase too long");
        sta_status_ = WL_CONNECT_FAILED;
        return sta_status_;
    }
    enableSTA(true);
    ssid_ = ssid;
    psk_ = passphrase ? passphrase : "";
    if (!connect)
        return sta_status_;
    return begin();
}

wl_status_t WiFiClass::begin(char *ssid, char *passphrase, int32_t channel, const uint8_t *bssid, bool connect)
{
    return begin((const char *)ssid, (const char *)passphrase, channel, bssid, connect);
}

wl_status_t WiFiClass::begin()
{
    if (ssid_.length() == 0) {
        sta_status_ = WL_CONNECT_FAILED;
        return sta_status_;
    }
    enableSTA(true);
    if (sta_status_ != WL_CONNECTED)
        ahk::log("WIFI", "station joined '%s' (host loopback, address 127.0.0.1)", ssid_.c_str());
    sta_status_ = WL_CONNECTED;
    return sta_status_;
}

bool WiFiClass::config(IPAddress local_ip, IPAddress, IPAddress, IPAddress, IPAddress)
{
    if (local_ip != IPAddress())
        ahk::log("WIFI", "config: static address %s noted; the host board stays on 127.0.0.1",
                 local_ip.toString().c_str());
    return true;
}

bool WiFiClass::reconnect()
{
    return begin() == WL_CONNECTED;
}

bool WiFiClass::disconnect(bool wifioff, bool eraseap)
{
    if (sta_status_ == WL_CONNECTED)
        ahk::log("WIFI", "station disconnected");
    sta_status_ = WL_DISCONNECTED;
    if (eraseap) {
        ssid_ = "";
        psk_ = "";
    }
    if (wifioff)
        enableSTA(false);
    return true;
}

uint8_t WiFiClass::waitForConnectResult(unsigned long) { return (uint8_t)status(); }

wl_status_t WiFiClass::status() { return sta_status_; }

IPAddress WiFiClass::localIP() { return status() == WL_CONNECTED ? IPAddress(127, 0, 0, 1) : IPAddress(); }
IPAddress WiFiClass::subnetMask() { return status() == WL_CONNECTED ? IPAddress(255, 0, 0, 0) : IPAddress(); }
IPAddress WiFiClass::gatewayIP() { return status() == WL_CONNECTED ? IPAddress(127, 0, 0, 1) : IPAddress(); }
IPAddress WiFiClass::dnsIP(uint8_t) { return status() == WL_CONNECTED ? IPAddress(127, 0, 0, 1) : IPAddress(); }
IPAddress WiFiClass::broadcastIP() { return status() == WL_CONNECTED ? IPAddress(127, 255, 255, 255) : IPAddress(); }

uint8_t *WiFiClass::macAddress(uint8_t *mac)
{
    memcpy(mac, kStaMac, 6);
    return mac;
}

static String mac_string(const uint8_t *m)
{
    char s[18];
    snprintf(s, sizeof s, "%02X:%02X:%02X:%02X:%02X:%02X", m[0], m[1], m[2], m[3], m[4], m[5]);
    return String(s);
}

String WiFiClass::macAddress() { return mac_string(kStaMac); }
String WiFiClass::SSID() const { return sta_status_ == WL_CONNECTED ? ssid_ : String(""); }
String WiFiClass::psk() const { return sta_status_ == WL_CONNECTED ? psk_ : String(""); }

uint8_t *WiFiClass::BSSID()
{
    static const uint8_t kApBssid[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};  /* a local MAC */
    memcpy(bssid_, kApBssid, sizeof bssid_);
    return status() == WL_CONNECTED ? bssid_ : nullptr;
}

String WiFiClass::BSSIDstr()
{
    uint8_t *b = BSSID();
    return b ? mac_string(b) : String("");
}

int8_t WiFiClass::RSSI() { return status() == WL_CONNECTED ? kRssi : 0; }
int32_t WiFiClass::channel() { return 1; }

bool WiFiClass::setHostname(const char *hostname)
{
    if (!hostname || strlen(hostname) > 32)
        return false;
    hostname_ = hostname;
    ahk::log("WIFI", "hostname '%s'", hostname);
    return true;
}

const char *WiFiClass::getHostname() { return hostname_.length() ? hostname_.c_str() : "esp32-arduino"; }

bool WiFiClass::softAP(const char *ssid, const char *passphrase, int channel, int, int, bool)
{
    if (!ssid || !*ssid || strlen(ssid) > 32) {
        ahk::log("WIFI", "softAP: SSID too short or missing");
        return false;
    }
    if (passphrase && *passphrase && strlen(passphrase) < 8) {
        ahk::log("WIFI", "softAP: passphrase too short (at least 8 characters)");
        return false;
    }
    enableAP(true);
    ap_ssid_ = ssid;
    ahk::log("WIFI", "soft-AP '%s' up on channel %d, address %s (the host board serves on 127.0.0.1)",
             ssid, channel, ap_ip_.toString().c_str());
    return true;
}

bool WiFiClass::softAPConfig(IPAddress local_ip, IPAddress, IPAddress subnet)
{
    ap_ip_ = local_ip;
    ap_mask_ = subnet;
    return true;
}

bool WiFiClass::softAPdisconnect(bool wifioff)
{
    ap_ssid_ = "";
    if (wifioff)
        enableAP(false);
    ahk::log("WIFI", "soft-AP down");
    return true;
}

uint8_t WiFiClass::softAPgetStationNum() { return 0; }
IPAddress WiFiClass::softAPIP() { return ap_on(mode_) ? ap_ip_ : IPAddress(); }

IPAddress WiFiClass::softAPBroadcastIP()
{
    IPAddress b = softAPIP();
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(b[i] | ~ap_mask_[i]);
    return b;
}

IPAddress WiFiClass::softAPSubnetMask() { return ap_mask_; }

uint8_t *WiFiClass::softAPmacAddress(uint8_t *mac)
{
    memcpy(mac, kStaMac, 6);
    mac[5] = (uint8_t)(mac[5] + 1);   /* the board's AP MAC is the station MAC + 1 */
    return mac;
}

String WiFiClass::softAPmacAddress()
{
    uint8_t m[6];
    return mac_string(softAPmacAddress(m));
}

const char *WiFiClass::softAPgetHostname() { return getHostname(); }
bool WiFiClass::softAPsetHostname(const char *hostname) { return setHostname(hostname); }

bool WiFiClass::mode(wifi_mode_t m)
{
    if (m >= WIFI_MODE_MAX)
        return false;
    if (m != mode_)
        ahk::log("WIFI", "mode %s", m == WIFI_MODE_NULL ? "off" : m == WIFI_MODE_STA ? "STA"
                                    : m == WIFI_MODE_AP ? "AP" : "AP+STA");
    if (!sta_on(m) && sta_status_ == WL_CONNECTED)
        sta_status_ = WL_DISCONNECTED;
    mode_ = m;
    return true;
}

wifi_mode_t WiFiClass::getMode() { return mode_; }

bool WiFiClass::enableSTA(bool enable)
{
    bool ap = ap_on(mode_);
    return mode(enable ? (ap ? WIFI_MODE_APSTA : WIFI_MODE_STA) : (ap ? WIFI_MODE_AP : WIFI_MODE_NULL));
}

bool WiFiClass::enableAP(bool enable)
{
    bool sta = sta_on(mode_);
    return mode(enable ? (sta ? WIFI_MODE_APSTA : WIFI_MODE_AP) : (sta ? WIFI_MODE_STA : WIFI_MODE_NULL));
}

int WiFiClass::hostByName(const char *aHostname, IPAddress &aResult)
{
    struct in_addr a;
    if (aResult.fromString(aHostname))
        return 1;
    if (ahk_net::loopback_host(aHostname, &a)) {
        aResult = (uint32_t)a.s_addr;
        return 1;
    }
    ahk::log("WIFI", "hostByName('%s'): no DNS on the host board (loopback only)", aHostname ? aHostname : "");
    return 0;
}
