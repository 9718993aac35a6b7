// The API from the browser: the session (token in sessionStorage only), JSON calls and readable errors.

const SESSION_KEY = "iot.session";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const session = {
  get() {
    try {
      return JSON.parse(sessionStorage.getItem(SESSION_KEY)) || null;
    } catch {
      return null;
    }
  },
  set(value) {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  },
  clear() {
    sessionStorage.removeItem(SESSION_KEY);
  },
  isAdmin() {
    return this.get()?.user?.role === "admin";
  },
};

// Called with the error when the API answers 401 to a signed-in call (the app sends the user to sign-in).
let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: fall through to the status text
  }
  const error = body?.error;
  if (error && typeof error === "object") {
    return new ApiError(response.status, error.code || "error", error.message || response.statusText, error.details);
  }
  return new ApiError(response.status, "http_" + response.status, `${response.status} ${response.statusText}`);
}

// Send a request; answers the Response (ok) or throws ApiError.
export async function request(method, path, { body, query, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  const token = session.get()?.token;
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, value);
    }
    const text = params.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (cause) {
    throw new ApiError(0, "network_error", "The API could not be reached. Check your connection and try again.");
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && auth && token) onUnauthorized(error);
    throw error;
  }
  return response;
}

export async function call(method, path, options) {
  const response = await request(method, path, options);
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body) => call("POST", path, { body: body ?? {} });
export const patch = (path, body) => call("PATCH", path, { body });
export const put = (path, body, query) => call("PUT", path, { body, query });
export const del = (path) => call("DELETE", path);

// Every item of a paged list (follows next_cursor).
export async function listAll(path, query = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await get(path, { ...query, limit: 1000, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

export const enc = encodeURIComponent;

export async function signIn(username, password) {
  const reply = await call("POST", "/api/users/signin", { body: { username, password }, auth: false });
  session.set({ token: reply.token, user: reply.user, expiresAt: Date.now() + reply.expires_in * 1000 });
  return reply.user;
}
