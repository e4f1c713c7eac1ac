/* host_page: mepmod's dashboard page and its history (see host_page.h).
 * The page inserts every value with textContent, so meter strings can never
 * inject markup; it needs nothing but this document and mepmod's JSON. */
#include "host_page.h"

#include <stdio.h>

#include <jansson.h>

#include "host_dash.h"

const char host_page_html[] =
    "<!DOCTYPE html>\n"
    "<html><head><meta charset=\"utf-8\"><title>mepmod</title>\n"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
    "<style>\n"
    "body{font-family:sans-serif;margin:1em;background:#fafafa;color:#222}\n"
    "h1{font-size:1.4em}h2{font-size:1.1em;margin:.8em 0 .3em}\n"
    "table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}\n"
    "td.v{text-align:right;font-family:monospace}\n"
    ".cols{display:flex;flex-wrap:wrap;gap:2em}\n"
    "#st{font-weight:bold}.bad{color:#b00}.ok{color:#070}.warn{color:#a60}\n"
    "svg{background:#fff;border:1px solid #ccc;max-width:100%}\n"
    "polyline.pw{stroke:#06c;fill:none;stroke-width:1.5}polyline.en{stroke:#c60;fill:none;stroke-width:1.5}\n"
    "span.pw,text.pw{color:#06c;fill:#06c}span.en,text.en{color:#c60;fill:#c60}\n"
    ".lab{font-size:11px;font-family:monospace}\n"
    "</style></head><body data-live=\"0\">\n"
    "<h1>MEP module (mepmod)</h1>\n"
    "<p>Status: <span id=\"st\">loading</span> <span id=\"tx\"></span>\n"
    " &middot; data age: <span id=\"age\">?</span></p>\n"
    "<p id=\"meter\"></p><p id=\"clock\"></p>\n"
    "<p>Energy sanitiser: <span id=\"held\" data-state=\"unknown\">?</span></p>\n"
    "<div class=\"cols\">\n"
    "<section><h2>Readings</h2><table id=\"t\"></table></section>\n"
    "<section><h2>Counters</h2><table id=\"c\"></table></section>\n"
    "<section><h2>Status history</h2><table id=\"h\"><tr><th>time (UTC)</th><th>status</th><th>detail</th></tr></table></section>\n"
    "</div>\n"
    "<h2>Last hour: <span class=\"pw\">&#9472;</span> net power (W), <span class=\"en\">&#9472;</span> energy consumed since the first sample (Wh)</h2>\n"
    "<svg id=\"trend\" viewBox=\"0 0 640 220\" width=\"640\" height=\"220\"></svg>\n"
    "<p id=\"trendinfo\"></p>\n"
    "<p><a href=\"/getDashDataWS\">/getDashDataWS</a> &middot; <a href=\"/status\">/status</a> &middot; <a href=\"/dashboard.json\">/dashboard.json</a></p>\n"
    "<script>\n"
    "'use strict';\n"
    "const rows=[['Fwd_Act_Wh','Energy consumed','kWh',1000,3,'d'],['Rev_Act_Wh','Energy returned','kWh',1000,3,'d'],\n"
    "['Fwd_W','Power consumed','W',1,0,'d'],['Rev_W','Power returned','W',1,0,'d'],\n"
    "['ImportReactive_VAr','Reactive power imported','var',1,0,'p'],['ExportReactive_VAr','Reactive power exported','var',1,0,'p'],\n"
    "['Apparent_VA','Apparent power','VA',1,0,'p'],['Freq_mHz','Frequency','Hz',1000,3,'d']];\n"
    "for(const n of [1,2,3]){rows.push(['L'+n+'_RMS_V','L'+n+' voltage','V',1000,1,'d'],['L'+n+'_RMS_A','L'+n+' current','A',1000,3,'d'],\n"
    " ['L'+n+'_Fwd_W','L'+n+' power consumed','W',1,0,'d'],['L'+n+'_Rev_W','L'+n+' power returned','W',1,0,'d'],\n"
    " ['L'+n+'_PF_Fac','L'+n+' power factor','',1000,3,'p']);}\n"
    "const clabels={polls_ok:'Polls',timeouts:'Timeouts',resends:'Resends',seq_resyncs:'Sequence resyncs (0x0C)',\n"
    " auth_failures:'Authentication failures (0x0B)',digest_rejects:'Rejected replies (digest)',\n"
    " mismatched_replies:'Replies to another request',recovery_cycles:'Recovery cycles',alerts_seen:'Alerts',\n"
    " procedures_posted:'Procedures posted',stray_bytes:'Stray bytes'};\n"
    "let dash=null,extra=null,fetchedAt=0;\n"
    "function el(id){return document.getElementById(id);}\n"
    "function set(id,t,c){const e=el(id);e.textContent=t;if(c!==undefined)e.className=c;}\n"
    "function cell(tr,text,cls,id){const td=tr.insertCell();td.textContent=text;if(cls)td.className=cls;if(id)td.id=id;return td;}\n"
    "function fmt(v,div,dec,unit){return (v/div).toFixed(dec)+(unit?' '+unit:'');}\n"
    "function drawReadings(){const t=el('t');t.textContent='';const p=(extra&&extra.present)||{};\n"
    " const phases=(extra&&extra.phases)||3;\n"
    " for(const r of rows){const src=r[5]==='d'?dash:p;if(!src||!(r[0] in src))continue;\n"
    "  const ph=/^L([123])_/.exec(r[0]);if(ph&&Number(ph[1])>phases)continue;\n"
    "  const tr=t.insertRow();cell(tr,r[1]);cell(tr,fmt(src[r[0]],r[3],r[4],r[2]),'v','v-'+r[0]);}}\n"
    "function drawCounters(){const t=el('c');t.textContent='';const c=dash.Counters||{};\n"
    " for(const k of Object.keys(c)){if(typeof c[k]!=='number')continue;const tr=t.insertRow();\n"
    "  cell(tr,clabels[k]||k);cell(tr,String(c[k]),'v','c-'+k);}}\n"
    "function drawHeld(){const e=el('held');\n"
    " if(dash.Energy_Suspect){e.textContent='HELD: '+(dash.Suspect_Reason||'suspect reading')+' (meter register '+\n"
    "  dash.Raw_Fwd_Act_Wh+' Wh, published '+dash.Fwd_Act_Wh+' Wh)';e.className='bad';e.dataset.state='held';}\n"
    " else{e.textContent='ok: the meter register is published as read ('+dash.Raw_Fwd_Act_Wh+' Wh)';e.className='ok';e.dataset.state='ok';}}\n"
    "function drawAge(){if(!dash)return;const s=dash.Energy_Age_s+Math.floor((Date.now()-fetchedAt)/1000);\n"
    " set('age',s+' s',s>10?'warn':'ok');}\n"
    "function drawHistory(){const t=el('h');while(t.rows.length>1)t.deleteRow(1);\n"
    " const h=(extra&&extra.status_history)||[];for(const c of h.slice().reverse()){const tr=t.insertRow();\n"
    "  cell(tr,new Date(c.t*1000).toISOString().slice(0,19).replace('T',' '));cell(tr,c.status,c.status==='OK'?'ok':(c.status==='BOOT'||c.status==='SYNC')?'':'bad');cell(tr,c.text);}}\n"
    "function svgel(name,attrs){const e=document.createElementNS('http://www.w3.org/2000/svg',name);\n"
    " for(const k in attrs)e.setAttribute(k,attrs[k]);return e;}\n"
    "function drawTrend(){const svg=el('trend');svg.textContent='';const pts=(extra&&extra.trend&&extra.trend.points)||[];\n"
    " const W=640,H=220,L=60,R=60,T=10,B=20;\n"
    " svg.appendChild(svgel('rect',{x:L,y:T,width:W-L-R,height:H-T-B,fill:'none',stroke:'#ddd'}));\n"
    " if(pts.length<2){set('trendinfo','collecting samples ('+pts.length+' so far, one every '+\n"
    "  ((extra&&extra.trend&&extra.trend.step_s)||10)+' s)');return;}\n"
    " const t0=pts[0][0],t1=pts[pts.length-1][0],span=Math.max(t1-t0,1);\n"
    " const pw=pts.map(p=>p[1]-p[2]),en=pts.map(p=>p[3]-pts[0][3]);\n"
    " function line(vals,cls,side){let lo=Math.min(...vals),hi=Math.max(...vals);if(hi===lo){hi+=1;lo-=1;}\n"
    "  const d=pts.map((p,i)=>(L+(p[0]-t0)/span*(W-L-R)).toFixed(1)+','+(T+(hi-vals[i])/(hi-lo)*(H-T-B)).toFixed(1)).join(' ');\n"
    "  svg.appendChild(svgel('polyline',{points:d,'class':cls,id:'trend-'+cls}));\n"
    "  const x=side?W-R+4:4;for(const [v,y] of [[hi,T+10],[lo,H-B]]){const tx=svgel('text',{x:x,y:y,'class':'lab '+cls});\n"
    "   tx.textContent=String(Math.round(v));svg.appendChild(tx);}}\n"
    " line(pw,'pw',0);line(en,'en',1);\n"
    " const tl=svgel('text',{x:L,y:H-4,'class':'lab'});tl.textContent=new Date(t0*1000).toISOString().slice(11,19);svg.appendChild(tl);\n"
    " const tr=svgel('text',{x:W-R-50,y:H-4,'class':'lab'});tr.textContent=new Date(t1*1000).toISOString().slice(11,19);svg.appendChild(tr);\n"
    " set('trendinfo',pts.length+' samples over '+Math.round(span/60)+' min');}\n"
    "async function pollDash(){try{const res=await fetch('/getDashDataWS',{cache:'no-store'});const text=await res.text();\n"
    " if(res.ok){dash=JSON.parse(text);fetchedAt=Date.now();\n"
    "  set('st',dash.Status,dash.Status==='OK'?'ok':'warn');set('tx',dash.Status_Text&&dash.Status_Text!=='ok'?dash.Status_Text:'');\n"
    "  set('meter',dash.Meter_Manufacturer+' '+dash.Meter_Model+' (sw '+dash.Meter_SW_Version+'), serial '+dash.Utility_SN);\n"
    "  set('clock',dash.CurrentDateTimeString+' (clock: '+dash.Clock_Source+')');\n"
    "  drawReadings();drawCounters();drawHeld();drawAge();\n"
    "  document.body.dataset.live='1';document.body.dataset.generation=String(dash.Generation);}\n"
    " else{const st=/^Status: (.*)$/m.exec(text),why=/^not ready: (.*)$/m.exec(text);\n"
    "  set('st',st?st[1]:'HTTP '+res.status,'bad');set('tx',why?'not serving readings: '+why[1]:text.slice(0,120));\n"
    "  document.body.dataset.live='0';}\n"
    " }catch(e){set('st','no connection','bad');set('tx',String(e));document.body.dataset.live='0';}}\n"
    "async function pollExtra(){try{const res=await fetch('/dashboard.json',{cache:'no-store'});if(!res.ok)return;\n"
    " extra=await res.json();drawHistory();drawTrend();if(dash)drawReadings();document.body.dataset.extra='1';}catch(e){}}\n"
    "pollDash();pollExtra();setInterval(pollDash,2000);setInterval(pollExtra,10000);setInterval(drawAge,1000);\n"
    "</script></body></html>\n";

static int32_t bt28(const mepc_readings *r, const char *name)
{
    const host_bt28_member *m = host_dash_bt28_member(name);
    return m && m->index < r->bt28.n ? r->bt28.v[m->index] : 0;
}

void host_page_record(host_page_history *h, const mepc_readings *r, uint32_t now_ms, int64_t unix_s)
{
    if (!h->have_status || h->status != r->status) {
        size_t at = (h->changes_head + h->changes_n) % HOST_PAGE_CHANGES_N;
        if (h->changes_n == HOST_PAGE_CHANGES_N)
            h->changes_head = (h->changes_head + 1) % HOST_PAGE_CHANGES_N; /* drop the oldest */
        else
            h->changes_n++;
        host_page_change *c = &h->changes[at];
        c->unix_s = unix_s;
        c->status = r->status;
        snprintf(c->text, sizeof c->text, "%s", r->status_text);
        h->have_status = true;
        h->status = r->status;
    }
    if (!host_dash_ready(r, now_ms, NULL))
        return; /* never a zero or stale reading in the trend */
    if (h->trend_n && now_ms - h->last_sample_ms < HOST_PAGE_TREND_STEP_MS)
        return;
    size_t at = (h->trend_head + h->trend_n) % HOST_PAGE_TREND_N;
    if (h->trend_n == HOST_PAGE_TREND_N)
        h->trend_head = (h->trend_head + 1) % HOST_PAGE_TREND_N;
    else
        h->trend_n++;
    host_page_sample *s = &h->trend[at];
    s->unix_s = unix_s;
    s->fwd_w = bt28(r, "Fwd_W");
    s->rev_w = bt28(r, "Rev_W");
    s->fwd_wh = r->fwd_wh;
    s->rev_wh = r->rev_wh;
    h->last_sample_ms = now_ms;
}

/* The values of the page that /getDashDataWS does not carry (BT28 indices:
 * docs/module-behaviour.md 7). */
static const char *const present_members[] = {"L1_PF_Fac", "L2_PF_Fac", "L3_PF_Fac", "ImportReactive_VAr",
                                              "ExportReactive_VAr", "Apparent_VA"};

char *host_page_json(const host_page_history *h, const mepc_readings *r, uint8_t phases, uint32_t now_ms)
{
    json_t *o = json_object();
    json_t *changes = json_array();
    for (size_t i = 0; i < h->changes_n; i++) {
        const host_page_change *c = &h->changes[(h->changes_head + i) % HOST_PAGE_CHANGES_N];
        char text[64];
        size_t n = 0;
        for (; c->text[n] && n + 1 < sizeof text; n++) /* printable ASCII for JSON (S30) */
            text[n] = (c->text[n] >= 0x20 && c->text[n] < 0x7F) ? c->text[n] : '?';
        text[n] = '\0';
        json_array_append_new(changes, json_pack("{s:I,s:s,s:s}", "t", (json_int_t)c->unix_s, "status",
                                                 mepc_status_name(c->status), "text", text));
    }
    json_object_set_new(o, "status_history", changes);
    json_t *points = json_array();
    for (size_t i = 0; i < h->trend_n; i++) {
        const host_page_sample *s = &h->trend[(h->trend_head + i) % HOST_PAGE_TREND_N];
        json_array_append_new(points, json_pack("[I,i,i,I,I]", (json_int_t)s->unix_s, (int)s->fwd_w,
                                                (int)s->rev_w, (json_int_t)s->fwd_wh, (json_int_t)s->rev_wh));
    }
    json_object_set_new(o, "trend", json_pack("{s:i,s:o}", "step_s", (int)(HOST_PAGE_TREND_STEP_MS / 1000u),
                                              "points", points));
    if (host_dash_ready(r, now_ms, NULL)) {
        json_t *p = json_object();
        for (size_t i = 0; i < sizeof present_members / sizeof present_members[0]; i++)
            json_object_set_new(p, present_members[i], json_integer(bt28(r, present_members[i])));
        json_object_set_new(o, "present", p);
    } else {
        json_object_set_new(o, "present", json_null());
    }
    json_object_set_new(o, "phases", phases ? json_integer(phases) : json_null());
    char *body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return body;
}
