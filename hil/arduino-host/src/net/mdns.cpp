/* mdns.cpp: the global MDNS responder (include/ESPmDNS.h): calls succeed and are logged; no
 * multicast leaves the host. */
#include "ahk_runtime.h"
#include "ESPmDNS.h"

MDNSResponder MDNS;

bool MDNSResponder::begin(const char *hostName)
{
    if (!hostName || !*hostName)
        return false;
    started_ = true;
    ahk::log("MDNS", "responder '%s.local' started (logged only: no multicast on the host board)", hostName);
    return true;
}

void MDNSResponder::end()
{
    if (started_)
        ahk::log("MDNS", "responder stopped");
    started_ = false;
}

void MDNSResponder::setInstanceName(const char *name)
{
    ahk::log("MDNS", "instance name '%s'", name ? name : "");
}

bool MDNSResponder::addService(const char *service, const char *proto, uint16_t port)
{
    if (!started_ || !service || !proto)
        return false;
    ahk::log("MDNS", "service %s%s.%s%s port %u", service[0] == '_' ? "" : "_", service,
             proto[0] == '_' ? "" : "_", proto, (unsigned)port);
    return true;
}

bool MDNSResponder::addServiceTxt(const char *name, const char *proto, const char *key, const char *value)
{
    if (!started_ || !name || !proto || !key || !value)
        return false;
    ahk::log("MDNS", "service %s.%s TXT %s=%s", name, proto, key, value);
    return true;
}

void MDNSResponder::enableArduino(uint16_t port, bool auth)
{
    ahk::log("MDNS", "arduino OTA service on port %u%s (logged only)", (unsigned)port, auth ? " with auth" : "");
}

void MDNSResponder::disableArduino() {}
void MDNSResponder::enableWorkstation(int) {}
void MDNSResponder::disableWorkstation() {}
