/* task_wdt.cpp: the task watchdog (see esp_task_wdt.h). A helper thread checks the last
 * reset every 100 ms. */
#include "esp_task_wdt.h"

#include <atomic>
#include <thread>
#include <time.h>

#include "ahk_runtime.h"
#include "ahk_vt.h"

namespace {

struct Wdt {
    std::atomic<bool> initialized{false};
    std::atomic<bool> panic{false};
    std::atomic<bool> subscribed{false};
    std::atomic<uint32_t> timeout_s{5};
    std::atomic<uint64_t> last_reset_us{0};
    std::atomic<bool> thread_started{false};
};

Wdt &wdt()
{
    static Wdt w;
    return w;
}

void watch()
{
    Wdt &w = wdt();
    bool reported = false;
    for (;;) {
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, nullptr);
        if (!w.initialized || !w.subscribed) {
            reported = false;
            continue;
        }
        uint64_t idle = ahk::now_us() - w.last_reset_us;
        if (idle < (uint64_t)w.timeout_s * 1000000u) {
            reported = false;
            continue;
        }
        if (!reported)
            ahk::log("WDT", "task watchdog got triggered: the loop task did not reset it for %u s", (unsigned)w.timeout_s);
        reported = true;
        if (w.panic)
            ahk::restart("task watchdog (panic)");
    }
}

} // namespace

extern "C" {

esp_err_t esp_task_wdt_init(uint32_t timeout, bool panic)
{
    Wdt &w = wdt();
    w.timeout_s = timeout ? timeout : 1;
    w.panic = panic;
    w.initialized = true;
    w.last_reset_us = ahk::now_us();
    ahk::log("WDT", "esp_task_wdt_init(%u s, panic=%s)", (unsigned)timeout, panic ? "true" : "false");
    /* virtual time: no watcher thread (it would read the clock from another thread and run on the
     * wall clock); the watchdog is not modelled there (the kit's README, "Virtual time") */
    if (!ahk::vt::enabled && !w.thread_started.exchange(true))
        std::thread(watch).detach();
    return ESP_OK;
}

esp_err_t esp_task_wdt_deinit(void)
{
    wdt().initialized = false;
    ahk::log("WDT", "esp_task_wdt_deinit()");
    return ESP_OK;
}

esp_err_t esp_task_wdt_add(TaskHandle_t handle)
{
    (void)handle;
    if (!wdt().initialized)
        return ESP_ERR_INVALID_STATE;
    wdt().subscribed = true;
    wdt().last_reset_us = ahk::now_us();
    ahk::log("WDT", "esp_task_wdt_add(): the loop task is watched");
    return ESP_OK;
}

esp_err_t esp_task_wdt_reset(void)
{
    if (!wdt().initialized || !wdt().subscribed)
        return ESP_ERR_NOT_FOUND;
    wdt().last_reset_us = ahk::now_us();
    return ESP_OK;
}

esp_err_t esp_task_wdt_delete(TaskHandle_t handle)
{
    (void)handle;
    wdt().subscribed = false;
    ahk::log("WDT", "esp_task_wdt_delete()");
    return ESP_OK;
}

esp_err_t esp_task_wdt_status(TaskHandle_t handle)
{
    (void)handle;
    return wdt().subscribed ? ESP_OK : ESP_ERR_NOT_FOUND;
}

} /* extern "C" */
