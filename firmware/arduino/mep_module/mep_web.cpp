/* mep_web: the module's HTTP routes (see mep_web.h). */
#include "mep_web.h"

#include <time.h>

#include "config.h"
#include "mep_dash.h"
#include "mep_json.h"

static char body[2048]; /* one document at a time: loop() serves one request at a time */

static MepPortCounters port_counters(const MepWebCtx *ctx)
{
    MepPortCounters pc;
    pc.rx_bytes = ctx->port->rx_bytes;
    pc.tx_bytes = ctx->port->tx_bytes;
    pc.http_requests = ctx->http_requests;
    pc.mqtt_published = ctx->mqtt->published;
    return pc;
}

static void send_dash(WebServer &server, MepWebCtx *ctx)
{
    ctx->http_requests++;
    const mepc_readings *r = ctx->port->readings();
    uint32_t now = millis();
    MepClock clk = mep_dash_clock(r, now, (int64_t)time(NULL));
    MepPortCounters pc = port_counters(ctx);
    int status = mep_dash_json(r, &clk, now, &pc, body, sizeof body);
    server.send(status, mep_dash_content_type(status), body);
}

static void send_status(WebServer &server, MepWebCtx *ctx)
{
    ctx->http_requests++;
    MepPortCounters pc = port_counters(ctx);
    mep_dash_status_json(ctx->port->readings(), &pc, ctx->port->xcvr_on, ctx->port->enable_on, millis(), body,
                         sizeof body);
    server.send(200, "application/json", body);
}

static String html_escape(const char *s)
{
    String out;
    for (; *s; s++) {
        switch (*s) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        default: out += *s;
        }
    }
    return out;
}

static void row(String &page, const char *name, const String &value)
{
    page += "<tr><th>";
    page += name;
    page += "</th><td>";
    page += value;
    page += "</td></tr>";
}

static String wh_as_kwh(int64_t wh)
{
    char d[24];
    mep_json_i64(d, wh / 1000);
    String s(d);
    char frac[8];
    snprintf(frac, sizeof frac, ".%03u", (unsigned)((wh < 0 ? -wh : wh) % 1000));
    return s + frac + " kWh";
}

static void send_page(WebServer &server, MepWebCtx *ctx)
{
    ctx->http_requests++;
    const mepc_readings *r = ctx->port->readings();
    const char *why = mep_dash_not_ready(r, millis());
    String page = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" "
                  "content=\"5\"><title>" MEP_HOSTNAME "</title><style>body{font-family:sans-serif}"
                  "th{text-align:left;padding-right:1em}</style></head><body><h1>MEP module</h1><table>";
    String status("no key configured");
    if (r)
        status = html_escape(mepc_status_name(r->status)) + " - " + html_escape(r->status_text);
    row(page, "Status", status);
    if (why)
        row(page, "Readings", html_escape(why));
    if (r && r->identity_valid) {
        row(page, "Meter", html_escape(r->manufacturer) + " " + html_escape(r->model) + " (software " +
                               html_escape(r->sw_version) + ")");
        row(page, "Serial", html_escape(r->utility_sn));
    }
    if (r && r->energy_valid) {
        row(page, "Energy consumed", wh_as_kwh(r->fwd_wh));
        row(page, "Energy returned", wh_as_kwh(r->rev_wh));
        if (r->energy_suspect)
            row(page, "Held", html_escape(r->suspect_reason) + " (meter said " + wh_as_kwh(r->raw_fwd_wh) + ")");
    }
    if (r && r->present_valid && r->bt28.n > 11) {
        row(page, "Power", String((long)r->bt28.v[0]) + " W consumed, " + String((long)r->bt28.v[1]) + " W returned");
        row(page, "Frequency", String((long)r->bt28.v[11]) + " mHz");
    }
    if (r)
        row(page, "Polls", String((unsigned long)r->polls_ok) + " ok, " + String((unsigned long)r->timeouts) +
                               " timeouts, " + String((unsigned long)r->recovery_cycles) + " recovery cycles");
    row(page, "Lines", String("transceiver ") + (ctx->port->xcvr_on ? "on" : "off") + ", ENABLE " +
                           (ctx->port->enable_on ? "asserted" : "released"));
    String mqtt("off");
    if (ctx->settings->mqtt_host[0])
        mqtt = String(ctx->mqtt->connected() ? "connected, " : "not connected, ") +
               String((unsigned long)ctx->mqtt->published) + " published";
    row(page, "MQTT", mqtt);
    page += "</table><p><a href=\"/getDashDataWS\">/getDashDataWS</a> &middot; <a href=\"/status\">/status</a> "
            "&middot; <a href=\"/setup\">settings</a></p></body></html>";
    server.send(200, "text/html", page);
}

static void send_setup_form(WebServer &server, MepWebCtx *ctx)
{
    ctx->http_requests++;
    String page = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Settings</title></head><body>"
                  "<h1>Settings</h1><form method=\"POST\" action=\"/setup\"><table>";
    bool secret = false;
    const char *name;
    for (size_t i = 0; (name = mep_settings_name(i, &secret)) != NULL; i++) {
        char value[80];
        mep_settings_show(ctx->settings, name, value, sizeof value);
        page += "<tr><th>";
        page += name;
        page += "</th><td><input name=\"";
        page += name;
        page += secret ? "\" type=\"password\" placeholder=\"" : "\" value=\"";
        page += html_escape(value);
        page += "\"></td></tr>";
    }
    page += "</table><p>Leave a password field empty to keep it. Keys: 20 characters as the utility "
            "hands them out, or 32/40 hex digits.</p><input type=\"submit\" value=\"Save\"></form>"
            "<p><a href=\"/\">status</a></p></body></html>";
    server.send(200, "text/html", page);
}

static void setup_reply(WebServer &server, int code, const char *error, const String &changed, unsigned fx)
{
    MepJson j(body, sizeof body);
    j.begin();
    j.boolean("ok", error == NULL);
    if (error)
        j.str("error", error, 200);
    else {
        j.str("changed", changed.c_str(), 200);
        j.boolean("restarting", (fx & MEP_FX_WIFI) != 0);
    }
    j.end();
    server.send(code, "application/json", body);
}

static void handle_setup_post(WebServer &server, MepWebCtx *ctx)
{
    ctx->http_requests++;
    MepSettings next = *ctx->settings;
    unsigned fx = 0;
    String changed;
    int n = 0;
    for (int i = 0; i < server.args(); i++) {
        String name = server.argName(i);
        String value = server.arg(i);
        if (name == "plain")
            continue; /* WebServer's copy of a non-form body */
        if (value.length() == 0 && mep_settings_secret(name.c_str()))
            continue; /* an empty password field keeps the stored secret */
        const char *err = mep_settings_set(&next, name.c_str(), value.c_str(), &fx);
        if (err) {
            String msg = name + ": " + err;
            setup_reply(server, 400, msg.c_str(), "", 0);
            return; /* nothing changed */
        }
        changed += (n++ ? "," : "") + name;
    }
    if (n == 0) {
        setup_reply(server, 400, "no settings given (e.g. POST /setup with mbk=...)", "", 0);
        return;
    }
    *ctx->settings = next;
    if (!mep_settings_save(ctx->settings)) {
        setup_reply(server, 500, "saving to Preferences failed", "", 0);
        return;
    }
    Serial.printf("setup: saved %s\n", changed.c_str());
    setup_reply(server, 200, NULL, changed, fx);
    ctx->apply(fx);
}

void mep_web_begin(WebServer &server, MepWebCtx *ctx)
{
    WebServer *s = &server;
    server.on("/getDashDataWS", HTTP_GET, [s, ctx]() { send_dash(*s, ctx); });
    server.on("/status", HTTP_GET, [s, ctx]() { send_status(*s, ctx); });
    server.on("/", HTTP_GET, [s, ctx]() { send_page(*s, ctx); });
    server.on("/setup", HTTP_GET, [s, ctx]() { send_setup_form(*s, ctx); });
    server.on("/setup", HTTP_POST, [s, ctx]() { handle_setup_post(*s, ctx); });
    server.onNotFound([s, ctx]() {
        ctx->http_requests++;
        const String &uri = s->uri();
        bool known = uri == "/getDashDataWS" || uri == "/status" || uri == "/" || uri == "/setup";
        s->send(known ? 405 : 404, "text/plain", known ? "method not allowed\n" : "not found\n");
    });
    server.begin();
}
