/* mqtt_link.cpp: starting the native MQTT bridge and framing the bridge protocol (mqtt_link.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../bridge/ahk_mqtt_bridge_proto.h"
#include "ahk_runtime.h"
#include "ahk_vt.h"
#include "mqtt_link.h"
#include "net_host.h"

namespace ahk_net {

void put_u8(std::string &b, unsigned v) { b += (char)(uint8_t)v; }

void put_u16(std::string &b, unsigned v)
{
    b += (char)(uint8_t)(v >> 8);
    b += (char)(uint8_t)v;
}

void put_str(std::string &b, const char *s, size_t n)
{
    if (n > 0xffff)
        n = 0xffff;
    put_u16(b, (unsigned)n);
    b.append(s ? s : "", s ? n : 0);
}

void put_str(std::string &b, const std::string &s) { put_str(b, s.data(), s.size()); }

void put_blob(std::string &b, const void *p, size_t n)
{
    uint8_t len[4];
    ahkb_put_u32be(len, (uint32_t)n);
    b.append((const char *)len, 4);
    b.append((const char *)p, n);
}

/* In the grandchild: fd 3 is the link, everything else above stderr is closed, then exec. */
[[noreturn]] static void exec_bridge(const std::string &path, int link)
{
    if (link != AHKB_LINK_FD) {
        dup2(link, AHKB_LINK_FD);   /* dup2 clears close-on-exec on the copy */
    } else {
        fcntl(link, F_SETFD, 0);
    }
    for (int fd = AHKB_LINK_FD + 1; fd < 1024; fd++)
        ::close(fd);
    const char *argv[] = {path.c_str(), "--fd", "3", nullptr};
    execv(path.c_str(), (char *const *)argv);
    _exit(127);
}

/* Virtual time: no bridge process and no broker on the network; the session is up at once
 * (CONNECT answered "connected") and each PUBLISH goes to the co-simulation with its
 * virtual time. Subscriptions receive nothing. */
static constexpr int k_virtual_fd = 1 << 30;

bool BridgeLink::virtual_send(uint8_t type, const std::string &body)
{
    if (type == AHKB_CONNECT) {
        vt_in_.push_back({AHKB_CONNECT_RESULT, std::string(1, '\0')});
        return true;
    }
    if (type != AHKB_PUBLISH)
        return true;
    struct ahkb_reader r = {(const uint8_t *)body.data(), body.size(), 0};
    size_t tl, pl;
    const uint8_t *t = ahkb_str(&r, &tl);
    const uint8_t *p = ahkb_blob(&r, &pl);
    unsigned flags = ahkb_u8(&r);
    if (r.bad)
        return false;
    ahk::vt::mqtt_publish(std::string((const char *)t, tl), std::string((const char *)p, pl), flags & AHKB_F_RETAIN);
    return true;
}

bool BridgeLink::start()
{
    if (ahk::vt::enabled) {
        fd_ = k_virtual_fd;
        vt_in_.clear();
        return true;
    }
    const std::string &path = ahk::options().bridge_path;
    if (path.empty() || access(path.c_str(), X_OK) != 0) {
        ahk::log("MQTT", "cannot start the MQTT bridge: %s", path.empty() ? "no bridge program configured"
                                                                        : (path + ": " + strerror(errno)).c_str());
        return false;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return false;
    /* double fork: the bridge is nobody's zombie; it exits when the link closes */
    pid_t child = fork();
    if (child == 0) {
        ::close(sv[0]);
        if (fork() == 0)
            exec_bridge(path, sv[1]);
        _exit(0);
    }
    ::close(sv[1]);
    if (child < 0) {
        ::close(sv[0]);
        ahk::log("MQTT", "cannot start the MQTT bridge: fork: %s", strerror(errno));
        return false;
    }
    while (waitpid(child, nullptr, 0) < 0 && errno == EINTR)
        ;
    fd_ = sv[0];
    in_.clear();
    return true;
}

void BridgeLink::close()
{
    if (ahk::vt::enabled) {
        fd_ = -1;
        vt_in_.clear();
        return;
    }
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
    in_.clear();
}

bool BridgeLink::send(uint8_t type, const std::string &body)
{
    if (fd_ < 0)
        return false;
    if (ahk::vt::enabled)
        return virtual_send(type, body);
    std::string frame(5, '\0');
    ahkb_put_u32be((uint8_t *)&frame[0], (uint32_t)body.size() + 1);
    frame[4] = (char)type;
    frame += body;
    if (!write_all(fd_, frame.data(), frame.size(), 5000)) {
        ahk::log("MQTT", "the MQTT bridge stopped answering");
        close();
        return false;
    }
    return true;
}

bool BridgeLink::receive(std::deque<BridgeFrame> &frames, int wait_ms)
{
    if (fd_ < 0)
        return false;
    if (ahk::vt::enabled) {
        while (!vt_in_.empty()) {
            frames.push_back(std::move(vt_in_.front()));
            vt_in_.pop_front();
        }
        return true;
    }
    struct pollfd pf = {fd_, POLLIN, 0};
    if (poll(&pf, 1, wait_ms) > 0) {
        char buf[65536];
        for (;;) {
            ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                in_.append(buf, (size_t)n);
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                ahk::log("MQTT", "the MQTT bridge exited");
                ::close(fd_);   /* frames already received are still delivered below */
                fd_ = -1;
            }
            break;
        }
    }
    while (in_.size() >= 5) {
        uint32_t len = ahkb_get_u32be((const uint8_t *)in_.data());
        if (len == 0 || len > AHKB_MAX_FRAME) {
            ahk::log("MQTT", "malformed frame from the MQTT bridge");
            close();
            return false;
        }
        if (in_.size() < 4u + len)
            break;
        frames.push_back({(uint8_t)in_[4], in_.substr(5, len - 1)});
        in_.erase(0, 4u + len);
    }
    return fd_ >= 0;
}

} // namespace ahk_net
