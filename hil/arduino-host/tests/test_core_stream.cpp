/* test_core_stream.cpp: Stream's documented timeout behaviour (Arduino reference, Stream:
 * setTimeout, readBytes, readBytesUntil, readString, readStringUntil, find, parseInt): each
 * waits for the next character at most the timeout (default 1000 ms) and then returns what
 * it has. Bytes of the fake stream become available at scheduled times. */
#include "Arduino.h"
#include "test_core_util.h"

#include <deque>
#include <utility>

namespace {

struct Timed : public Stream {
    std::deque<std::pair<unsigned long, int>> q; /* (due millis, byte) */
    void add(unsigned long at_ms, const char *s)
    {
        for (; *s; s++)
            q.push_back({at_ms, (unsigned char)*s});
    }
    int available() override { return !q.empty() && millis() >= q.front().first ? 1 : 0; }
    int read() override
    {
        if (!available())
            return -1;
        int c = q.front().second;
        q.pop_front();
        return c;
    }
    int peek() override { return available() ? q.front().second : -1; }
    size_t write(uint8_t) override { return 1; }
};

void read_bytes_times_out()
{
    Timed t;
    t.setTimeout(200);
    CHECK(t.getTimeout() == 200, "getTimeout");
    unsigned long now = millis();
    t.add(now, "abc");
    char buf[8] = {0};
    unsigned long t0 = millis();
    size_t n = t.readBytes(buf, 5);
    unsigned long took = millis() - t0;
    CHECK(n == 3 && memcmp(buf, "abc", 3) == 0, "readBytes returned %zu", n);
    CHECK(took >= 195 && took < 400, "readBytes waited %lu ms for the missing bytes (timeout 200)", took);
}

void timeout_restarts_per_character()
{
    /* bytes 150 ms apart, timeout 200: all arrive although the whole read takes 450 ms */
    Timed t;
    t.setTimeout(200);
    unsigned long now = millis();
    t.add(now + 150, "1");
    t.add(now + 300, "2");
    t.add(now + 450, "3");
    String s = t.readStringUntil('\n');
    CHECK_STR(s.c_str(), "123");
}

void until_and_find()
{
    Timed t;
    t.setTimeout(100);
    unsigned long now = millis();
    t.add(now, "key=val;rest");
    char buf[16] = {0};
    CHECK(t.find("key="), "find");
    size_t n = t.readBytesUntil(';', buf, sizeof buf);
    CHECK(n == 3 && memcmp(buf, "val", 3) == 0, "readBytesUntil gave %zu", n);
    CHECK(t.readString() == "rest", "readString takes the rest");
    Timed u;
    u.setTimeout(50);
    u.add(millis(), "nothing here");
    unsigned long t0 = millis();
    CHECK(!u.find("zzz"), "find fails");
    CHECK(millis() - t0 >= 45, "find waited for more input");
    CHECK(u.available() == 0, "find consumed the input");
}

void parse_int()
{
    Timed t;
    t.setTimeout(100);
    t.add(millis(), "abc -123,456x  78");
    CHECK(t.parseInt() == -123, "parseInt skips non-digits");
    CHECK(t.read() == ',', "parseInt stops at the first non-digit");
    CHECK(t.parseInt(SKIP_ALL, ',') == 456, "second number");
    CHECK(t.parseInt(SKIP_NONE) == 0, "SKIP_NONE: 'x' ends the parse");
    t.read(); /* the x */
    CHECK(t.parseInt(SKIP_WHITESPACE) == 78, "SKIP_WHITESPACE skips spaces");
    Timed e;
    e.setTimeout(60);
    unsigned long t0 = millis();
    CHECK(e.parseInt() == 0, "parseInt on silence");
    CHECK(millis() - t0 >= 55, "parseInt waited the timeout");
    Timed g;
    g.setTimeout(60);
    g.add(millis(), "1,234,567");
    CHECK(g.parseInt(SKIP_ALL, ',') == 1234567, "ignore character");
    Timed f;
    f.setTimeout(60);
    f.add(millis(), "x-2.5y");
    float v = f.parseFloat();
    CHECK(v > -2.51f && v < -2.49f, "parseFloat %f", (double)v);
}

} // namespace

int main()
{
    ahk::Options o;
    o.state_dir = fresh_state_dir("stream");
    ahk::init_for_test(o);
    read_bytes_times_out();
    timeout_restarts_per_character();
    until_and_find();
    parse_int();
    return finish_tests("test_core_stream");
}
