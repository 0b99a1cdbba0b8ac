// Keeps a phone's unsent drawing in this browser (localStorage), so that a dropped
// connection, a reload or a restarted server does not lose it (app_pages/room_keep.py).
// "ask": say what is kept for this room; "save": keep these strokes; "clear": forget them.
export default function ({ data, setStateValue }) {
  if (!data || typeof data.op !== "string") return;
  const KEY = "mnist-room-unsent";
  let store = null;
  try {
    store = window.localStorage;
    store.getItem(KEY);
  } catch (e) {
    store = null;  // storage switched off (a private window, a policy)
  }
  if (store === null) {
    if (data.op !== "clear") setStateValue("reply", { ask: data.ask, kept: "", failed: true });
    return;
  }
  if (data.op === "ask") {
    let kept = null;
    try {
      kept = JSON.parse(store.getItem(KEY) || "null");
    } catch (e) {
      kept = null;
    }
    const mine = kept && kept.room === data.room && typeof kept.strokes === "string";
    setStateValue("reply", { ask: data.ask, kept: mine ? kept.strokes : "", failed: false });
  } else if (data.op === "save") {
    try {
      store.setItem(KEY, JSON.stringify({ room: data.room, strokes: data.strokes }));
    } catch (e) {
      setStateValue("reply", { ask: data.ask, kept: "", failed: true });  // storage full
    }
  } else if (data.op === "clear") {
    store.removeItem(KEY);
  }
}
