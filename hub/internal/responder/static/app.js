// kuaifan responder: the officer's phone. Reports its position to the hub
// (adaptive, like the agent), keeps every report until the hub confirms it
// is stored, shows the unit's dispatch and sends the answers, and has SOS.
// Plain JavaScript, no build step: the hub embeds and serves this file.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const API = 'api/';

  const TEXT = {
    zh: {
      signInTitle: '登录', unitId: '单位编号', secret: '密钥', signIn: '登录', signOut: '退出',
      qrHint: '也可扫描调度台登记单位时显示的二维码。', queued: '待发', confirmed: '已确认',
      distance: '距离', bearing: '方位', place: '位置', ack: '签收', arrived: '到达', cleared: '处置完毕',
      decline: '拒绝', declineReason: '拒绝原因', rBusy: '正在处置其他警情', rFar: '距离太远',
      rVehicle: '车辆故障', rOther: '其他', note: '补充说明（可选）', declineSend: '确认拒绝', back: '返回',
      idle: '暂无任务 · 正在上报位置', sosHold: '按住 SOS 求援', sosHolding: '继续按住…', sosSent: 'SOS 已发出',
      sosQueued: 'SOS 待发送', online: '在线', offline: '离线', connecting: '连接中',
      badCreds: '单位编号或密钥错误', tooMany: '失败次数过多，请稍后再试', sessionEnded: '登录已失效，请重新登录',
      noGeo: '无法获取位置：请允许定位', gpsOK: '定位正常', gpsWait: '等待定位',
      stDispatched: '新派警 · 请签收', stEnroute: '已签收 · 前往现场', stOnScene: '已到达现场', stSOS: '求援中 · 支援正在赶来',
      cancelled: '派警已撤销', newDispatch: '新派警', refused: '一条上报被拒绝：',
      prio: 'P', kinds: { robbery: '抢劫', theft: '盗窃', assault: '伤害', traffic: '交通事故', fire: '火警',
        lost_person: '走失人员', disturbance: '纠纷', officer_help: '警员求援' },
      ago: (m, s) => (m > 0 ? `${m}分${s}秒前` : `${s}秒前`),
    },
    en: {
      signInTitle: 'Sign in', unitId: 'Unit id', secret: 'Secret', signIn: 'Sign in', signOut: 'Sign out',
      qrHint: 'Or scan the QR code the dashboard shows when the unit is enrolled.', queued: 'Queued', confirmed: 'Confirmed',
      distance: 'Distance', bearing: 'Bearing', place: 'Place', ack: 'Ack', arrived: 'Arrived', cleared: 'Cleared',
      decline: 'Decline', declineReason: 'Reason', rBusy: 'On another incident', rFar: 'Too far',
      rVehicle: 'Vehicle trouble', rOther: 'Other', note: 'Note (optional)', declineSend: 'Decline', back: 'Back',
      idle: 'No assignment · reporting position', sosHold: 'Hold for SOS', sosHolding: 'Keep holding…', sosSent: 'SOS sent',
      sosQueued: 'SOS queued', online: 'online', offline: 'offline', connecting: 'connecting',
      badCreds: 'Unknown unit or wrong secret', tooMany: 'Too many failed sign-ins: try again later', sessionEnded: 'Signed out: sign in again',
      noGeo: 'No position: allow location access', gpsOK: 'GPS ok', gpsWait: 'waiting for GPS',
      stDispatched: 'New dispatch · acknowledge', stEnroute: 'Acknowledged · en route', stOnScene: 'On scene', stSOS: 'SOS · help is on its way',
      cancelled: 'Dispatch cancelled', newDispatch: 'New dispatch', refused: 'A report was refused: ',
      prio: 'P', kinds: { robbery: 'Robbery', theft: 'Theft', assault: 'Assault', traffic: 'Traffic accident', fire: 'Fire',
        lost_person: 'Lost person', disturbance: 'Disturbance', officer_help: 'Officer needs help' },
      ago: (m, s) => (m > 0 ? `${m} min ${s} s ago` : `${s} s ago`),
    },
  };
  let lang = localStorage.getItem('kf.lang') || ((navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en');
  const t = (k) => TEXT[lang][k] ?? TEXT.en[k] ?? k;

  // The agent's defaults (agent/README.md, "Adaptive reporting"), until
  // the hub commands others with a config command.
  const DEFAULT_CONFIG = { moving_s: 5, patrol_s: 10, stationary_s: 60 };
  const MOVE_REPORT_M = 50; // moved this far since the last report: report now
  const MAX_QUEUE = 5000;   // reports kept while offline (≈ 1.4 h at 1 Hz)
  const SOS_HOLD_MS = 1500;

  const st = {
    session: null,       // {token, unit, callsign}
    queue: [],           // [{kind: 'report'|'event', body}], in seq order but an sos first
    sending: false,
    retryTimer: 0,
    retryDelay: 1000,
    fix: null,           // the latest position {lat, lon, acc, speed, heading, at}
    lastReport: null,    // {at, lat, lon}
    config: { ...DEFAULT_CONFIG },
    assignment: null,
    skew: 0,             // hub clock − ours, ms
    confirmed: null,     // {seq, at}
    ws: null,
    wsDelay: 1000,
    wsTimer: 0,
    online: false,
    battery: null,
    geoWatch: null,
    fixPending: false,
    latencies: [],       // ms from a first send to its confirmation, the last 1000
    refusedCount: 0,
  };
  // For the tests (and a curious officer's console): what the page knows.
  window.kfResponder = {
    state: st,
    reportNow: () => report(true),
  };

  // ---- language ----
  function applyLang() {
    document.documentElement.lang = lang;
    for (const el of document.querySelectorAll('[data-i18n]')) {
      el.textContent = t(el.dataset.i18n);
    }
    for (const el of document.querySelectorAll('[data-i18n-ph]')) {
      el.placeholder = t(el.dataset.i18nPh);
    }
    $('lang').textContent = lang === 'zh' ? 'EN' : '中文';
    render();
  }
  $('lang').addEventListener('click', () => {
    lang = lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem('kf.lang', lang);
    applyLang();
  });

  // ---- storage ----
  const key = (name) => `kf.${name}.${st.session.unit}`;
  function loadQueue() {
    try {
      st.queue = JSON.parse(localStorage.getItem(key('queue')) || '[]');
    } catch {
      st.queue = [];
    }
  }
  function saveQueue() {
    localStorage.setItem(key('queue'), JSON.stringify(st.queue));
  }
  // nextSeq is the device's sequence: rising by one per report, persisted.
  // A device that has none (first use, storage cleared) starts from the
  // clock in microseconds, as an agent that lost its storage does, so it
  // never reuses a seq the hub already has (protocol/README.md).
  function nextSeq() {
    const k = key('seq');
    const last = Number(localStorage.getItem(k) || 0);
    const seq = last > 0 ? last + 1 : Date.now() * 1000;
    localStorage.setItem(k, String(seq));
    return seq;
  }
  const hubNow = () => Date.now() + st.skew;
  function learnClock(hubMS, sentAt) {
    if (typeof hubMS === 'number' && hubMS > 0) {
      st.skew = Math.round(hubMS - (sentAt + Date.now()) / 2);
    }
  }

  // ---- HTTP ----
  async function call(method, path, body) {
    const headers = { 'Content-Type': 'application/json' };
    if (st.session) {
      headers.Authorization = 'Bearer ' + st.session.token;
    }
    const resp = await fetch(API + path, { method, headers, body: body ? JSON.stringify(body) : undefined, cache: 'no-store' });
    let data = null;
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
    return { status: resp.status, data, retryAfter: Number(resp.headers.get('Retry-After') || 0) };
  }

  // ---- sign-in ----
  async function signIn(unit, secret) {
    $('signin-error').textContent = '';
    $('signin-btn').disabled = true;
    try {
      const sentAt = Date.now();
      const r = await call('POST', 'session', { unit, secret });
      if (r.status === 200) {
        learnClock(r.data.now, sentAt);
        st.session = { token: r.data.token, unit: r.data.unit, callsign: r.data.callsign || '' };
        localStorage.setItem('kf.session', JSON.stringify(st.session));
        start();
        return;
      }
      $('signin-error').textContent = r.status === 401 ? t('badCreds') : r.status === 429 ? t('tooMany') : (r.data && r.data.error) || String(r.status);
    } catch (e) {
      $('signin-error').textContent = t('offline') + ': ' + e.message;
    } finally {
      $('signin-btn').disabled = false;
    }
  }
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    signIn($('unit').value.trim(), $('secret').value);
  });

  // sessionEnded keeps the unit's queue (the next sign-in sends it) and asks
  // for the secret again.
  function sessionEnded() {
    stopRunning();
    localStorage.removeItem('kf.session');
    const unit = st.session ? st.session.unit : '';
    st.session = null;
    showSignIn(unit, t('sessionEnded'));
  }
  $('signout').addEventListener('click', () => {
    if (st.session) {
      call('DELETE', 'session').catch(() => {});
    }
    sessionEnded();
    $('signin-error').textContent = '';
  });

  function showSignIn(unit, msg) {
    $('main').hidden = true;
    $('signout').hidden = true;
    $('signin').hidden = false;
    $('who').textContent = '';
    if (unit) {
      $('unit').value = unit;
    }
    $('signin-error').textContent = msg || '';
  }

  // ---- running ----
  let ticker = 0;
  function start() {
    $('signin').hidden = true;
    $('main').hidden = false;
    $('signout').hidden = false;
    $('secret').value = '';
    $('who').textContent = st.session.callsign ? `${st.session.callsign} · ${st.session.unit}` : st.session.unit;
    loadQueue();
    startGeo();
    connect();
    refreshMe();
    clearInterval(ticker);
    ticker = setInterval(tick, 1000);
    pump();
    render();
  }
  function stopRunning() {
    clearInterval(ticker);
    clearTimeout(st.retryTimer);
    clearTimeout(st.wsTimer);
    if (st.geoWatch !== null) {
      navigator.geolocation.clearWatch(st.geoWatch);
      st.geoWatch = null;
    }
    if (st.ws) {
      st.ws.onclose = null;
      st.ws.close();
      st.ws = null;
    }
    st.assignment = null;
  }

  async function refreshMe() {
    try {
      const sentAt = Date.now();
      const r = await call('GET', 'me');
      if (r.status === 401) {
        sessionEnded();
        return;
      }
      if (r.status === 200) {
        learnClock(r.data.now, sentAt);
        applyMe(r.data);
      }
    } catch {
      // offline: the socket's hello brings it later
    }
  }
  function applyMe(me) {
    if (me.config) {
      st.config = { ...DEFAULT_CONFIG, ...me.config };
    }
    const prev = st.assignment;
    st.assignment = me.assignment || null;
    if (st.assignment && st.assignment.state !== 'sos' && (!prev || prev.incident !== st.assignment.incident)) {
      alertDispatch();
    }
    render();
  }

  // ---- position ----
  function startGeo() {
    if (!('geolocation' in navigator)) {
      $('gps').textContent = t('noGeo');
      return;
    }
    st.geoWatch = navigator.geolocation.watchPosition(onFix, onGeoError,
      { enableHighAccuracy: true, maximumAge: 0, timeout: 60000 });
    if (navigator.getBattery) {
      navigator.getBattery().then((b) => {
        const upd = () => { st.battery = b.level; };
        upd();
        b.addEventListener('levelchange', upd);
      }).catch(() => {});
    }
  }
  function onFix(pos) {
    const c = pos.coords;
    st.fix = {
      lat: c.latitude, lon: c.longitude, acc: c.accuracy,
      speed: Number.isFinite(c.speed) ? c.speed : null,
      heading: Number.isFinite(c.heading) ? c.heading : null,
      at: Date.now(),
    };
    $('gps').dataset.state = 'ok';
    $('gps').textContent = t('gpsOK') + (c.accuracy ? ` ±${Math.round(c.accuracy)} m` : '');
    // Faster when moving: a report as soon as the phone is well away from
    // where it last reported.
    if (st.lastReport && distance(st.lastReport, st.fix) >= MOVE_REPORT_M) {
      report(false);
    } else if (!st.lastReport) {
      report(false);
    }
    render();
  }
  function onGeoError(err) {
    $('gps').dataset.state = 'error';
    $('gps').textContent = err.code === 1 ? t('noGeo') : t('gpsWait');
  }

  // interval is the reporting interval now, as the agent picks it: moving,
  // patrolling (walking pace) or stationary, from the last commanded config.
  function interval() {
    const c = st.config;
    let speed = st.fix && st.fix.speed;
    if (speed === null && st.fix && st.lastReport) {
      speed = distance(st.lastReport, st.fix) / Math.max(1, (st.fix.at - st.lastReport.at) / 1000);
    }
    let s = speed > 2 ? c.moving_s : speed > 0.5 ? c.patrol_s ?? c.moving_s : c.stationary_s;
    if (st.assignment) {
      s = Math.min(s, c.moving_s ?? 5); // on a job the dispatcher follows the unit
    }
    return Math.max(1, Number(s) || 5) * 1000;
  }

  function tick() {
    render();
    if (!st.fix || st.fixPending) {
      return;
    }
    if (st.lastReport && Date.now() - st.lastReport.at < interval()) {
      return;
    }
    // Due: ask for a fresh fix (the watch may be quiet while standing),
    // and report what we have if none comes quickly.
    st.fixPending = true;
    navigator.geolocation.getCurrentPosition((p) => {
      st.fixPending = false;
      const before = st.lastReport;
      onFix(p);
      if (st.lastReport === before) {
        report(false);
      }
    }, () => {
      st.fixPending = false;
      report(false);
    }, { enableHighAccuracy: true, maximumAge: 500, timeout: 3000 });
  }

  function report(force) {
    if (!st.session || !st.fix) {
      return;
    }
    if (!force && st.lastReport && Date.now() - st.lastReport.at < 1000) {
      return; // at most one a second
    }
    const f = st.fix;
    const body = { seq: nextSeq(), ts: hubNow(), lat: f.lat, lon: f.lon };
    if (f.acc !== null && f.acc >= 0) body.acc = f.acc;
    if (f.speed !== null && f.speed >= 0) body.speed = f.speed;
    if (f.heading !== null && f.heading >= 0) body.heading = f.heading;
    if (st.battery !== null) body.battery = st.battery;
    st.lastReport = { at: Date.now(), lat: f.lat, lon: f.lon };
    enqueue('report', body);
  }

  function sendEvent(type, extra) {
    const body = { seq: nextSeq(), ts: hubNow(), type, ...extra };
    enqueue('event', body);
  }

  // ---- the queue: kept until the hub confirms ----
  function enqueue(kind, body) {
    const item = { kind, body, queued: Date.now() };
    if (kind === 'event' && body.type === 'sos') {
      st.queue.unshift(item); // before everything else, as the agent does
    } else {
      st.queue.push(item);
    }
    while (st.queue.length > MAX_QUEUE) {
      const i = st.queue.findIndex((q) => q.kind === 'report');
      st.queue.splice(i < 0 ? 0 : i, 1);
    }
    saveQueue();
    render();
    pump();
  }

  async function pump() {
    if (st.sending || !st.session) {
      return;
    }
    st.sending = true;
    try {
      while (st.queue.length > 0 && st.session) {
        const item = st.queue[0];
        const resent = item.tries > 0;
        item.tries = (item.tries || 0) + 1;
        const sentAt = performance.now();
        let r;
        try {
          r = await call('POST', item.kind === 'event' ? 'event' : 'report', item.body);
        } catch {
          r = { status: 0 };
        }
        if (r.status === 200) {
          if (!resent) {
            st.latencies.push(performance.now() - sentAt);
            if (st.latencies.length > 1000) st.latencies.shift();
          }
          dequeue(item);
          st.confirmed = { seq: item.body.seq, at: Date.now() };
          if (item.kind === 'event' && item.body.type === 'sos') {
            setTimeout(refreshMe, 500); // the incident it opened, to show help is coming
          }
          setOnline(true);
          st.retryDelay = 1000;
          continue;
        }
        if (r.status === 400 || r.status === 403 || r.status === 413) {
          // Refused for good: sending it again changes nothing.
          dequeue(item);
          st.refusedCount++;
          notice(t('refused') + ((r.data && r.data.error) || r.status));
          continue;
        }
        if (r.status === 401) {
          sessionEnded();
          return;
        }
        // Not stored now (offline, 503): later, the same report, same seq.
        if (r.status === 0) {
          setOnline(false);
        }
        clearTimeout(st.retryTimer);
        const wait = Math.max(st.retryDelay, (r.retryAfter || 0) * 1000);
        st.retryDelay = Math.min(st.retryDelay * 2, 15000);
        st.retryTimer = setTimeout(pump, wait);
        break;
      }
    } finally {
      st.sending = false;
      saveQueue();
      render();
    }
  }
  function dequeue(item) {
    const i = st.queue.indexOf(item);
    if (i >= 0) st.queue.splice(i, 1);
    saveQueue();
  }
  window.addEventListener('online', () => {
    st.retryDelay = 1000;
    clearTimeout(st.retryTimer);
    pump();
    if (!st.ws && st.session) connect();
  });

  // ---- the socket: commands ----
  function connect() {
    clearTimeout(st.wsTimer);
    if (!st.session) return;
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + location.pathname.replace(/[^/]*$/, '') + 'api/ws';
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      retryConnect();
      return;
    }
    st.ws = ws;
    setLink('connecting');
    ws.onopen = () => ws.send(JSON.stringify({ token: st.session.token }));
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.type === 'hello') {
        st.wsDelay = 1000;
        setOnline(true);
        applyMe(msg);
        pump();
      } else if (msg.type === 'command') {
        command(msg.command);
      }
    };
    ws.onclose = (ev) => {
      st.ws = null;
      if (ev.code === 4401) {
        refreshMe(); // a 401 there signs the page out
      }
      setOnline(false);
      retryConnect();
    };
  }
  function retryConnect() {
    clearTimeout(st.wsTimer);
    st.wsTimer = setTimeout(connect, st.wsDelay);
    st.wsDelay = Math.min(st.wsDelay * 2, 15000);
  }

  function command(c) {
    const a = st.assignment;
    switch (c.type) {
      case 'dispatch':
        if (a && a.command === c.id) return; // the hello had it already
        st.assignment = { incident: c.incident, kind: c.kind || '', summary: c.summary || '', priority: c.priority,
          lat: c.lat, lon: c.lon, status: 'dispatched', state: 'dispatched', command: c.id, dispatched: c.ts };
        alertDispatch();
        break;
      case 'update_location':
        if (a && a.incident === c.incident) {
          a.lat = c.lat;
          a.lon = c.lon;
        }
        break;
      case 'cancel':
        if (a && a.incident === c.incident) {
          st.assignment = null;
          notice(t('cancelled'));
        }
        break;
      case 'config':
        st.config = { ...DEFAULT_CONFIG, ...c.config };
        break;
    }
    render();
  }
  function alertDispatch() {
    notice(t('newDispatch'));
    if (navigator.vibrate) navigator.vibrate([300, 100, 300]);
  }

  function setOnline(on) {
    st.online = on;
    setLink(on ? 'online' : 'offline');
  }
  function setLink(state) {
    $('link').dataset.state = state;
    $('link-text').textContent = t(state);
  }
  let noticeTimer = 0;
  function notice(msg) {
    $('notice').textContent = msg;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { $('notice').textContent = ''; }, 8000);
  }

  // ---- the card ----
  function answer(type) {
    const a = st.assignment;
    if (!a) return;
    sendEvent(type, { incident: a.incident });
    if (type === 'ack') a.state = 'enroute';
    if (type === 'arrived') a.state = 'on_scene';
    if (type === 'cleared') st.assignment = null;
    render();
  }
  $('ack').addEventListener('click', () => answer('ack'));
  $('arrived').addEventListener('click', () => answer('arrived'));
  $('cleared').addEventListener('click', () => answer('cleared'));
  $('decline').addEventListener('click', () => {
    $('decline-form').hidden = false;
  });
  $('decline-cancel').addEventListener('click', () => {
    $('decline-form').hidden = true;
  });
  $('decline-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const a = st.assignment;
    if (!a) return;
    const note = $('decline-note').value.trim();
    const reason = $('decline-reason').value + (note ? ': ' + note : '');
    let r = reason; // the contract's limit is 128 bytes of UTF-8
    while (new TextEncoder().encode(r).length > 128) r = r.slice(0, -1);
    sendEvent('decline', { incident: a.incident, reason: r });
    st.assignment = null;
    $('decline-form').hidden = true;
    $('decline-note').value = '';
    render();
  });

  function render() {
    if (!st.session) return;
    const q = st.queue.length;
    $('queued').textContent = String(q);
    $('queued').dataset.count = String(q);
    const c = st.confirmed;
    $('confirmed').textContent = c ? `#${c.seq % 100000} · ${new Date(c.at).toLocaleTimeString(lang === 'zh' ? 'zh-CN' : 'en-GB')}` : '—';
    $('link-text').textContent = t($('link').dataset.state);
    const a = st.assignment;
    const card = $('card');
    card.hidden = !a;
    $('idle').hidden = !!a;
    if (!a) {
      card.dataset.incident = '';
      card.dataset.state = '';
      $('decline-form').hidden = true;
      return;
    }
    card.dataset.incident = a.incident;
    card.dataset.state = a.state;
    card.dataset.priority = String(a.priority || '');
    card.dataset.sos = String(a.state === 'sos');
    $('card-priority').textContent = a.priority ? t('prio') + a.priority : '';
    $('card-kind').textContent = TEXT[lang].kinds[a.kind] || a.kind || '';
    $('card-summary').textContent = a.summary || '';
    $('card-place').textContent = `${a.lat.toFixed(5)}, ${a.lon.toFixed(5)}`;
    if (st.fix) {
      const d = distance(st.fix, a);
      $('card-distance').textContent = d >= 1000 ? `${(d / 1000).toFixed(1)} km` : `${Math.round(d)} m`;
      const b = bearing(st.fix, a);
      $('card-bearing').textContent = `${compass(b)} ${Math.round(b)}°`;
    }
    if (a.dispatched) {
      const secs = Math.max(0, Math.floor((hubNow() - a.dispatched) / 1000));
      $('card-since').textContent = TEXT[lang].ago(Math.floor(secs / 60), secs % 60);
    }
    const states = { dispatched: 'stDispatched', enroute: 'stEnroute', on_scene: 'stOnScene', sos: 'stSOS' };
    $('card-state').textContent = t(states[a.state] || 'stDispatched');
    $('ack').hidden = a.state !== 'dispatched';
    $('decline').hidden = !(a.state === 'dispatched' || a.state === 'enroute');
    $('arrived').hidden = a.state !== 'enroute';
    $('cleared').hidden = a.state !== 'on_scene';
  }

  // ---- geodesy (the protocol's Haversine, EarthRadiusM) ----
  const R = 6371008.8;
  const rad = (d) => (d * Math.PI) / 180;
  function distance(a, b) {
    const dLat = rad(b.lat - a.lat);
    const dLon = rad(b.lon - a.lon);
    const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
    return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
  }
  function bearing(a, b) {
    const y = Math.sin(rad(b.lon - a.lon)) * Math.cos(rad(b.lat));
    const x = Math.cos(rad(a.lat)) * Math.sin(rad(b.lat)) - Math.sin(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.cos(rad(b.lon - a.lon));
    return ((Math.atan2(y, x) * 180) / Math.PI + 360) % 360;
  }
  function compass(deg) {
    const zh = ['北', '东北', '东', '东南', '南', '西南', '西', '西北'];
    const en = ['N', 'NE', 'E', 'SE', 'S', 'SW', 'W', 'NW'];
    return (lang === 'zh' ? zh : en)[Math.round(deg / 45) % 8];
  }

  // ---- SOS: hold to send, so a pocket cannot ----
  const sos = $('sos');
  let holdStart = 0;
  let holdFrame = 0;
  function holdBegin(e) {
    if (e) e.preventDefault();
    if (holdStart || !st.session) return;
    holdStart = performance.now();
    sos.dataset.state = 'holding';
    $('sos-label').textContent = t('sosHolding');
    const step = () => {
      const p = Math.min(1, (performance.now() - holdStart) / SOS_HOLD_MS);
      $('sos-fill').style.width = `${p * 100}%`;
      if (p >= 1) {
        holdStart = 0;
        sendSOS();
        return;
      }
      holdFrame = requestAnimationFrame(step);
    };
    holdFrame = requestAnimationFrame(step);
  }
  function holdEnd() {
    if (!holdStart) return;
    holdStart = 0;
    cancelAnimationFrame(holdFrame);
    $('sos-fill').style.width = '0';
    sos.dataset.state = 'idle';
    $('sos-label').textContent = t('sosHold');
  }
  sos.addEventListener('pointerdown', (e) => {
    try {
      sos.setPointerCapture(e.pointerId); // a finger sliding off still counts as let go
    } catch {
      // a synthetic event's pointer cannot be captured
    }
    holdBegin(e);
  });
  for (const ev of ['pointerup', 'pointercancel', 'lostpointercapture']) {
    sos.addEventListener(ev, holdEnd);
  }
  sos.addEventListener('keydown', (e) => {
    if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) holdBegin(e);
  });
  sos.addEventListener('keyup', holdEnd);
  sos.addEventListener('contextmenu', (e) => e.preventDefault());

  function sendSOS() {
    const extra = {};
    if (st.fix) {
      extra.lat = st.fix.lat;
      extra.lon = st.fix.lon;
    }
    sendEvent('sos', extra);
    sos.dataset.state = 'sent';
    $('sos-fill').style.width = '100%';
    $('sos-label').textContent = t('sosSent');
    if (navigator.vibrate) navigator.vibrate(500);
    setTimeout(() => {
      if (sos.dataset.state === 'sent') {
        sos.dataset.state = 'idle';
        $('sos-fill').style.width = '0';
        $('sos-label').textContent = t('sosHold');
      }
    }, 10000);
  }

  // ---- start ----
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('sw.js', { scope: './' }).catch(() => {});
  }
  applyLang();
  // The enrolment QR code: /responder/#u=<unit>&s=<secret>. A fragment is
  // never sent to a server; it is read, cleared from the address bar and
  // history at once, and used to sign in.
  function enrolmentLink() {
    const frag = new URLSearchParams(location.hash.slice(1));
    if (!frag.get('u') || !frag.get('s')) {
      return false;
    }
    history.replaceState(null, '', location.pathname + location.search);
    if (st.session) {
      stopRunning();
    }
    showSignIn(frag.get('u'), '');
    signIn(frag.get('u'), frag.get('s'));
    return true;
  }
  window.addEventListener('hashchange', enrolmentLink); // a link opened on the open page
  if (enrolmentLink()) {
    return;
  }
  try {
    st.session = JSON.parse(localStorage.getItem('kf.session') || 'null');
  } catch {
    st.session = null;
  }
  if (st.session && st.session.token) {
    start();
  } else {
    st.session = null;
    showSignIn('', '');
  }
})();
