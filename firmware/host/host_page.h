/* host_page: the live dashboard page served at GET / (static HTML + inline JS
 * that polls /getDashDataWS every 2 s and shows the readings and status). */
#ifndef HOST_PAGE_H
#define HOST_PAGE_H

extern const char host_page_html[];

#endif
