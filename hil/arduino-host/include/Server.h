/* Server.h: the Arduino network server interface (Arduino API: Server), implemented by WiFiServer. */
#ifndef AHK_SERVER_H
#define AHK_SERVER_H

#include "Print.h"

class Server : public Print {
public:
    virtual void begin() = 0;
};

#endif
