// The page's connection to this service's own `GET /events` stream, with EventSource: it connects, says how it is
// going, and retries after a refusal (which EventSource does not do by itself).

/** The stream's URL, relative to the page, with the access token if there is one. */
function streamUrl(token) {
  return token ? `events?access_token=${encodeURIComponent(token)}` : 'events';
}

/** Asks the stream once more with fetch, which, unlike EventSource, tells the HTTP status and message. */
async function explainFailure(token) {
  const abort = new AbortController();
  try {
    const res = await fetch(streamUrl(token), {
      headers: { accept: 'text/event-stream' },
      cache: 'no-store',
      signal: abort.signal,
    });
    if (res.ok) return { reason: 'Stream interrupted', refused: false };
    if (res.status === 401 || res.status === 403) {
      return { reason: token ? `Token refused (${res.status})` : 'Access token required', refused: true };
    }
    const body = await res.json().catch(() => ({}));
    const message = typeof body?.message === 'string' ? body.message : '';
    return { reason: `${res.status}${message ? `: ${message}` : ''}`, refused: false };
  } catch {
    return { reason: 'Service unreachable', refused: false };
  } finally {
    abort.abort();
  }
}

export class StreamConnection {
  #source;
  #token = '';
  #attempt = 0;
  #state = 'connecting';
  #text = 'Connecting…';
  #refused = false;
  #failure = '';
  #retryAt = 0;
  #retryTimer;

  /**
   * @param {(data: string) => void} onMessage called with each event's JSON text
   * @param {() => void} onChange called when `status()` changes other than by its countdown
   */
  constructor(onMessage, onChange) {
    this.onMessage = onMessage;
    this.onChange = onChange;
  }

  /** Connects, or connects again with a new token (from the page's field): the attempts count from zero. */
  connect(token) {
    this.#token = token;
    this.#attempt = 0;
    this.#refused = false;
    this.#open();
  }

  /**
   * What to show: `state` is connecting, live, reconnecting or error; `refused` says that the token was missing or
   * refused.
   */
  status(now = Date.now()) {
    if (!this.#retryAt) return { state: this.#state, text: this.#text, refused: this.#refused };
    const seconds = Math.max(0, Math.ceil((this.#retryAt - now) / 1000));
    return { state: 'error', text: `${this.#failure} — retrying in ${seconds} s`, refused: this.#refused };
  }

  #set(state, text) {
    this.#state = state;
    this.#text = text;
    this.onChange();
  }

  #open() {
    clearTimeout(this.#retryTimer);
    this.#retryAt = 0;
    this.#source?.close();
    const attempt = this.#attempt;
    this.#set(attempt ? 'reconnecting' : 'connecting', attempt ? `Reconnecting (attempt ${attempt})…` : 'Connecting…');
    const es = new EventSource(streamUrl(this.#token));
    this.#source = es;
    es.onopen = () => {
      if (this.#source !== es) return;
      this.#attempt = 0;
      this.#failure = '';
      this.#refused = false;
      this.#set('live', 'Live');
    };
    es.onmessage = (message) => this.onMessage(message.data);
    es.onerror = () => {
      if (this.#source !== es) return;
      this.#attempt++;
      if (es.readyState === EventSource.CONNECTING) {
        // The connection dropped: the browser reconnects by itself.
        this.#set('reconnecting', `Reconnecting (attempt ${this.#attempt})…`);
        return;
      }
      // The server refused the stream (an HTTP error): the browser gives up, so find out why and retry later.
      es.close();
      void explainFailure(this.#token).then(({ reason, refused }) => {
        if (this.#source !== es) return;
        this.#failure = reason;
        this.#refused = refused;
        const delay = Math.min(30, 2 ** Math.min(this.#attempt, 5)) * 1000;
        this.#retryAt = Date.now() + delay;
        this.#retryTimer = setTimeout(() => this.#open(), delay);
        this.onChange();
      });
    };
  }
}
