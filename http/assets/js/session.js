// The signed-in person, as the pages remember them: the tokens and user of
// POST /auth/login, kept in localStorage under `boxoffice.session` so every
// page (and every tab) shares one sign-in. Nothing here decides who may do
// what: the API checks every token; this only carries it.

const KEY = 'boxoffice.session';

/** `{accessToken, refreshToken, user}` or null. */
export function getSession() {
  try {
    const session = JSON.parse(localStorage.getItem(KEY) || 'null');
    return session && session.accessToken && session.user ? session : null;
  } catch {
    return null;
  }
}

/** Keeps the answer of login or refresh (a TokensBody). */
export function saveSession(tokens) {
  localStorage.setItem(
    KEY,
    JSON.stringify({
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      user: tokens.user,
    }),
  );
}

export function clearSession() {
  localStorage.removeItem(KEY);
}

/** The signed-in user (`userId, email, name, role`) or null. */
export function currentUser() {
  const session = getSession();
  return session ? session.user : null;
}

/** Seconds until the access token expires (its `exp` claim), or 0 if unreadable. */
export function accessSecondsLeft(session) {
  try {
    const payload = session.accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(payload));
    return Math.max(0, claims.exp - Date.now() / 1000);
  } catch {
    return 0;
  }
}

/**
 * Sends a page that needs a signed-in user to the account page first (and
 * back here after), before it calls anything that would answer 401.
 * Returns the user, or null while the browser moves away.
 */
export function requireSignIn() {
  const user = currentUser();
  if (!user) {
    const next = location.pathname + location.search;
    location.assign(`/account?next=${encodeURIComponent(next)}`);
    return null;
  }
  return user;
}
