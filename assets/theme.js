// Streamlit follows the browser's light or dark setting (or the user's choice in
// its menu) and exposes no CSS variable for it: mark the root element with the theme in
// use, read from the app's background, so styles can choose legible colours.
(() => {
  if (window.__digitTheme) return;
  window.__digitTheme = true;
  const mark = () => {
    const app = document.querySelector(".stApp") || document.body;
    const m = getComputedStyle(app).backgroundColor.match(/[0-9.]+/g);
    if (!m) return;
    const dark = 0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2] < 128;
    const theme = dark ? "dark" : "light";
    if (document.documentElement.dataset.digitTheme !== theme) {
      document.documentElement.dataset.digitTheme = theme;
    }
  };
  mark();
  setInterval(mark, 400);
})();
