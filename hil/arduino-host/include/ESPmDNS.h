/* ESPmDNS.h: the ESP32 mDNS responder (Arduino-ESP32 API: MDNSResponder, global MDNS). The host
 * board answers no multicast (it would leave loopback): begin() and the service calls succeed
 * and are logged, so a sketch behaves as with a working responder. */
#ifndef AHK_ESPMDNS_H
#define AHK_ESPMDNS_H

#include <stdint.h>
#include "Arduino.h"
#include "IPAddress.h"

class MDNSResponder {
public:
    bool begin(const char *hostName);
    bool begin(const String &hostName) { return begin(hostName.c_str()); }
    void end();
    void setInstanceName(const char *name);
    void setInstanceName(const String &name) { setInstanceName(name.c_str()); }
    bool addService(const char *service, const char *proto, uint16_t port);
    bool addService(const String &service, const String &proto, uint16_t port)
    { return addService(service.c_str(), proto.c_str(), port); }
    bool addServiceTxt(const char *name, const char *proto, const char *key, const char *value);
    bool addServiceTxt(const String &name, const String &proto, const String &key, const String &value)
    { return addServiceTxt(name.c_str(), proto.c_str(), key.c_str(), value.c_str()); }
    void enableArduino(uint16_t port = 3232, bool auth = false);
    void disableArduino();
    void enableWorkstation(int = 0);
    void disableWorkstation();

private:
    bool started_ = false;
};

extern MDNSResponder MDNS;

#endif
