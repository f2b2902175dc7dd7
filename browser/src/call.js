// Calling from the browser: the page script of Dial's browser-calling pages.
//
// Built by scripts/build (esbuild, with the pinned livekit-client from npm) into the site
// as pkg/call.<hash>.js and loaded only by the pages that call: the page to call from the
// browser and a live call's page. It works on the markup those pages render
// (app/src/pages/calls/browser.rs): every element it touches carries a data-bc-*
// attribute, and it listens on the document, so a page rendered again still works.
//
// Placing a call: the microphone first (refused: nothing is created), then Dial's
// `calls/browser/start` (the call, its room and a token for this room alone), the join,
// the microphone published, and only then `calls/browser/joined`, which has Dial dial the
// phone into the room. A failure after the start is reported to Dial
// (`calls/browser/abandon`), which deletes the room and ends the call saying why.
// Listening in: `calls/browser/listen` gives a token (listen only, or speaking), and
// `calls/browser/take-over` removes the agent.

import { Room, RoomEvent, Track, createLocalAudioTrack, createAudioAnalyser } from 'livekit-client';

if (!window.__dialBrowserCall) {
  window.__dialBrowserCall = true;
  document.addEventListener('submit', onSubmit);
  document.addEventListener('click', onClick);
  markReady(document);
  new MutationObserver(() => markReady(document)).observe(document.body, { childList: true, subtree: true });
}

/** The widgets say they can call (their "needs JavaScript" notes hide). */
function markReady(root) {
  for (const widget of root.querySelectorAll('[data-browser-call]:not([data-bc-ready])')) {
    widget.setAttribute('data-bc-ready', 'true');
  }
}

// One call at a time per page.
let current = null;

const OUTCOME_WORDS = {
  completed: 'The call ended.',
  busy: 'The line was busy.',
  no_answer: 'Nobody answered.',
  declined: 'The call was declined.',
  unreachable: 'The number could not be reached.',
  trunk_auth_failed: 'The carrier refused the call (trunk authentication failed).',
  failed: 'The call failed.',
  canceled: 'The call was cancelled.',
};

const DTMF_CODES = { '0': 0, '1': 1, '2': 2, '3': 3, '4': 4, '5': 5, '6': 6, '7': 7, '8': 8, '9': 9, '*': 10, '#': 11 };

/** Posts to one of Dial's server functions (form-encoded, same origin, the session cookie). */
async function post(endpoint, fields) {
  const body = new URLSearchParams(fields);
  let response;
  try {
    response = await fetch(`/api/${endpoint}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body,
      credentials: 'same-origin',
    });
  } catch {
    throw new DialError('Dial could not be reached. Check your connection and try again.');
  }
  const text = await response.text();
  let value = null;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  if (!response.ok) throw new DialError(messageOf(value), value);
  return value;
}

class DialError extends Error {
  constructor(message, body) {
    super(message);
    this.body = body;
  }
}

/** Dial's error (app/src/error.rs, `AppError`) in the words the server uses. */
function messageOf(error) {
  switch (error?.kind) {
    case 'invalid':
      return error.errors.map((e) => e.message).join(' ');
    case 'conflict':
      return error.message;
    case 'not_found':
      return `${error.what} was not found.`;
    case 'unauthorized':
      return 'Your session has ended. Please sign in again.';
    case 'forbidden':
      return 'Only administrators can do this.';
    case 'upstream':
      return `${error.provider}: ${error.message}`;
    case 'request':
      return `The request failed: ${error.message}`;
    default:
      return 'Something went wrong inside Dial. The details are in the server log.';
  }
}

/** The widget's parts. */
function parts(widget) {
  const q = (selector) => widget.querySelector(selector);
  return {
    widget,
    panel: q('[data-bc-panel]'),
    status: q('[data-bc-status]'),
    error: q('[data-bc-error]'),
    level: q('[data-bc-level]'),
    digits: q('[data-bc-digits]'),
    audio: q('[data-bc-audio]'),
    mute: q('[data-bc-action="mute"]'),
    takeOver: q('[data-bc-action="take-over"]'),
    keypad: q('[data-bc-keypad]'),
    start: widget.querySelectorAll('[data-bc-start]'),
  };
}

function showError(p, message) {
  p.error.textContent = message;
  p.error.hidden = false;
}

function clearError(p) {
  p.error.textContent = '';
  p.error.hidden = true;
}

function setStatus(p, text, state) {
  p.status.textContent = text;
  p.widget.setAttribute('data-bc-state', state);
}

function setBusy(p, busy) {
  for (const el of p.start) el.disabled = busy;
}

/** The microphone, or a message saying why not (nothing is created when it fails). */
async function microphone() {
  try {
    return { track: await createLocalAudioTrack({ echoCancellation: true, noiseSuppression: true }) };
  } catch (e) {
    const name = e?.name ?? '';
    if (name === 'NotAllowedError' || name === 'SecurityError') {
      return {
        reason: 'microphone_denied',
        message:
          'Your browser did not allow Dial to use the microphone. Allow it for this site (the icon in the address bar) and try again. Nothing was dialled.',
      };
    }
    if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'NotReadableError') {
      return {
        reason: 'no_microphone',
        message: 'Dial found no microphone it can use. Connect one (or close the program using it) and try again. Nothing was dialled.',
      };
    }
    return { reason: 'no_microphone', message: `The microphone could not be opened (${e?.message ?? e}). Nothing was dialled.` };
  }
}

/** Joins the room with the token Dial gave; on failure says so in plain words. */
async function join(p, grant, mic) {
  const room = new Room({ disconnectOnPageLeave: true });
  room.on(RoomEvent.TrackSubscribed, (track) => {
    if (track.kind === Track.Kind.Audio && p.audio) p.audio.append(track.attach());
  });
  try {
    await room.connect(grant.url, grant.token, { autoSubscribe: true });
  } catch (e) {
    mic?.stop();
    await room.disconnect().catch(() => {});
    throw new DialError(
      `Your browser could not connect to LiveKit at ${grant.url} (${e?.message ?? e}). Check that it can be reached from this computer.`,
    );
  }
  if (mic) {
    try {
      await room.localParticipant.publishTrack(mic, { source: Track.Source.Microphone });
    } catch (e) {
      mic.stop();
      await room.disconnect().catch(() => {});
      throw new DialError(`LiveKit did not take your microphone (${e?.message ?? e}).`);
    }
  }
  return room;
}

/** The microphone level meter, until the call ends. */
function meter(p, mic) {
  if (!mic || !p.level) return () => {};
  let stopped = false;
  let analyser;
  try {
    analyser = createAudioAnalyser(mic, { cloneTrack: true });
  } catch {
    return () => {};
  }
  const tick = () => {
    if (stopped) return;
    p.level.value = Math.min(1, analyser.calculateVolume() * 4);
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  return () => {
    stopped = true;
    p.level.value = 0;
    analyser.cleanup().catch(() => {});
  };
}

function openPanel(p, { speaking, keypad }) {
  p.panel.hidden = false;
  for (const el of p.panel.querySelectorAll('[data-bc-live]')) el.hidden = false;
  p.mute.hidden = !speaking;
  p.mute.setAttribute('aria-pressed', 'false');
  p.mute.textContent = 'Mute';
  if (p.keypad) p.keypad.hidden = !keypad;
  if (p.digits) p.digits.textContent = '';
  if (p.takeOver) p.takeOver.hidden = true;
  for (const el of p.widget.querySelectorAll('[data-bc-speaking-only]')) el.hidden = !speaking;
}

function closePanel(p) {
  if (p.audio) p.audio.replaceChildren();
  p.panel.hidden = true;
}

// -- Placing a call ----------------------------------------------------------------------

async function onSubmit(event) {
  const form = event.target.closest?.('form[data-bc-form]');
  if (!form) return;
  event.preventDefault();
  const widget = form.closest('[data-browser-call]');
  if (!widget || current) return;
  const p = parts(widget);
  clearError(p);
  const data = new FormData(form);
  const numberId = String(data.get('number_id') ?? '');
  const to = String(data.get('to') ?? '');
  setBusy(p, true);
  const call = { p, room: null, id: null, dialled: false, stopMeter: () => {}, mic: null, timer: null };
  current = call;
  try {
    setStatus(p, 'Asking for your microphone…', 'starting');
    p.panel.hidden = false;
    const mic = await microphone();
    if (!mic.track) {
      throw new DialError(mic.message);
    }
    call.mic = mic.track;
    setStatus(p, 'Starting the call…', 'starting');
    const grant = await post('calls/browser/start', { number_id: numberId, to });
    call.id = grant.call.id;
    widget.setAttribute('data-bc-call', call.id);
    const link = widget.querySelector('[data-bc-link]');
    if (link) {
      link.querySelector('a')?.setAttribute('href', `/dashboard/calls/${encodeURIComponent(call.id)}`);
      link.hidden = false;
    }
    widget.setAttribute('data-bc-room', grant.room);
    widget.setAttribute('data-bc-url', grant.url);
    setStatus(p, 'Joining the call’s room…', 'joining');
    try {
      call.room = await join(p, grant, call.mic);
    } catch (e) {
      await post('calls/browser/abandon', { id: call.id, reason: 'livekit_unreachable' }).catch(() => {});
      throw e;
    }
    // Hanging up from this page deletes the room, so LiveKit closes it under us: the
    // hang-up's own answer says how the call ended, so the close waits for it.
    call.room.on(RoomEvent.Disconnected, () => {
      call.roomClosed = true;
      if (!call.hangingUp) finish(call, null);
    });
    openPanel(p, { speaking: true, keypad: true });
    call.stopMeter = meter(p, call.mic);
    setStatus(p, `Dialling ${grant.call.to}…`, 'dialing');
    const row = await post('calls/browser/joined', { id: call.id });
    call.dialled = true;
    show(call, row);
    follow(call);
  } catch (e) {
    const message = e instanceof DialError ? e.message : `The call could not start: ${e?.message ?? e}`;
    await finish(call, message);
  }
}

/** Follows the call's status in Dial until it ends. */
function follow(call) {
  const poll = async () => {
    if (current !== call) return;
    try {
      const detail = await post('calls/get', { id: call.id });
      show(call, detail.call);
      if (detail.call.status === 'ended') {
        await finish(call, null, detail.call);
        return;
      }
    } catch {
      // A missed poll is retried.
    }
    call.timer = setTimeout(poll, 1000);
  };
  call.timer = setTimeout(poll, 500);
}

function show(call, row) {
  const { p } = call;
  switch (row.status) {
    case 'dialing':
      setStatus(p, `Dialling ${row.to}…`, 'dialing');
      break;
    case 'ringing':
      setStatus(p, `Ringing ${row.to}…`, 'ringing');
      break;
    case 'answered':
      setStatus(p, `Answered: you are talking to ${row.to}.`, 'answered');
      break;
    case 'ended':
      setStatus(p, ended(row), 'ended');
      break;
  }
}

function ended(row) {
  const words = OUTCOME_WORDS[row.outcome] ?? 'The call ended.';
  const sip = row.sip_status_code ? ` (SIP ${row.sip_status_code})` : '';
  return `Ended. ${words}${sip}`;
}

/** Ends the page's side of the call: the room left, the microphone off, the status final. */
async function finish(call, message, row) {
  if (current !== call) return;
  current = null;
  clearTimeout(call.timer);
  call.stopMeter();
  call.mic?.stop();
  const { p } = call;
  if (call.room) {
    const room = call.room;
    call.room = null;
    await room.disconnect().catch(() => {});
  }
  closePanel(p);
  setBusy(p, false);
  if (message) {
    showError(p, message);
    setStatus(p, 'Not connected.', 'failed');
  } else if (row) {
    setStatus(p, ended(row), 'ended');
  } else if (call.id) {
    // The room closed under us (hung up elsewhere, or the call ended): read how it ended.
    try {
      const detail = await post('calls/get', { id: call.id });
      setStatus(p, detail.call.status === 'ended' ? ended(detail.call) : 'You left the call.', 'ended');
    } catch {
      setStatus(p, 'You left the call.', 'ended');
    }
  }
  p.panel.hidden = false;
  for (const el of p.panel.querySelectorAll('[data-bc-live]')) el.hidden = true;
}

// -- Buttons -------------------------------------------------------------------------------

async function onClick(event) {
  const button = event.target.closest?.('[data-bc-action], [data-bc-digit]');
  if (!button) return;
  const widget = button.closest('[data-browser-call]');
  if (!widget) return;
  const digit = button.getAttribute('data-bc-digit');
  if (digit !== null) {
    await sendDigit(digit);
    return;
  }
  const action = button.getAttribute('data-bc-action');
  switch (action) {
    case 'mute':
      await toggleMute(button);
      break;
    case 'hangup':
      await hangUp();
      break;
    case 'listen':
    case 'speak':
      await listenIn(widget, action);
      break;
    case 'take-over':
      await takeOver();
      break;
  }
}

async function sendDigit(digit) {
  const call = current;
  if (!call?.room || !(digit in DTMF_CODES)) return;
  try {
    await call.room.localParticipant.publishDtmf(DTMF_CODES[digit], digit);
    if (call.p.digits) call.p.digits.textContent += digit;
  } catch (e) {
    showError(call.p, `The tone ${digit} was not sent (${e?.message ?? e}).`);
  }
}

async function toggleMute(button) {
  const call = current;
  if (!call?.mic) return;
  const muted = button.getAttribute('aria-pressed') === 'true';
  if (muted) await call.mic.unmute();
  else await call.mic.mute();
  button.setAttribute('aria-pressed', String(!muted));
  button.textContent = muted ? 'Mute' : 'Unmute';
}

async function hangUp() {
  const call = current;
  if (!call) return;
  if (call.listening) {
    await finish(call, null);
    setStatus(call.p, 'You left the call.', 'left');
    return;
  }
  call.hangingUp = true;
  try {
    const row = call.dialled
      ? await post('calls/hangup', { id: call.id })
      : await post('calls/browser/abandon', { id: call.id, reason: 'left' });
    await finish(call, null, row);
  } catch (e) {
    call.hangingUp = false;
    // The room may have closed while the hang-up was refused: the page's side ends anyway,
    // reading how the call ended, and the refusal stays said.
    if (call.roomClosed) await finish(call, null);
    showError(call.p, e instanceof DialError ? e.message : String(e));
  }
}

// -- Listening in --------------------------------------------------------------------------

async function listenIn(widget, mode) {
  if (current) return;
  const p = parts(widget);
  const id = widget.getAttribute('data-bc-call');
  clearError(p);
  setBusy(p, true);
  const call = { p, room: null, id, dialled: true, listening: true, stopMeter: () => {}, mic: null, timer: null };
  current = call;
  try {
    p.panel.hidden = false;
    if (mode === 'speak') {
      setStatus(p, 'Asking for your microphone…', 'starting');
      const mic = await microphone();
      if (!mic.track) throw new DialError(mic.message.replace(' Nothing was dialled.', ''));
      call.mic = mic.track;
    }
    setStatus(p, 'Joining the call…', 'joining');
    const grant = await post('calls/browser/listen', { id, mode });
    widget.setAttribute('data-bc-room', grant.room);
    widget.setAttribute('data-bc-url', grant.url);
    call.room = await join(p, grant, call.mic);
    call.room.on(RoomEvent.Disconnected, () => {
      if (current === call) finish(call, null).then(() => setStatus(p, 'The call ended.', 'ended'));
    });
    openPanel(p, { speaking: mode === 'speak', keypad: false });
    call.stopMeter = meter(p, call.mic);
    if (p.takeOver) p.takeOver.hidden = mode !== 'speak';
    setStatus(
      p,
      mode === 'speak'
        ? 'You are in the call: the caller and the agent hear you.'
        : 'Listening in: nobody in the call hears you.',
      mode === 'speak' ? 'speaking' : 'listening',
    );
  } catch (e) {
    await finish(call, e instanceof DialError ? e.message : String(e));
  }
}

async function takeOver() {
  const call = current;
  if (!call?.listening || !call.mic) return;
  try {
    await post('calls/browser/take-over', { id: call.id });
    if (call.p.takeOver) call.p.takeOver.hidden = true;
    setStatus(call.p, 'You took the call over: the agent has left, and you are talking to the caller alone.', 'taken-over');
  } catch (e) {
    showError(call.p, e instanceof DialError ? e.message : String(e));
  }
}
