// Writes or erases the values app_pages/browser_store.py asked for, as cookies of this
// site (SameSite=Strict: never sent by another site's page), then tells the server it did.
// The server reads them back from the cookies of the next connection (a reload, a restart).
export default function ({ data, setTriggerValue }) {
  if (!data || !Array.isArray(data.ops)) return;
  const secure = window.location.protocol === "https:" ? "; Secure" : "";
  for (const op of data.ops) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(op.name)) continue;
    const value = op.value === null ? "" : encodeURIComponent(op.value);
    const age = op.value === null ? 0 : Math.max(0, Math.floor(op.max_age));
    document.cookie = `${op.name}=${value}; Path=/; Max-Age=${age}; SameSite=Strict${secure}`;
  }
  setTriggerValue("done", data.batch);
}
