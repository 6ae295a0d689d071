// Applies the theme chosen with the toggle before the page is painted (this file is loaded
// synchronously in <head>), so that a dark page never flashes light. Without a stored choice the
// stylesheet follows the system's prefers-color-scheme.
(function () {
  "use strict";
  try {
    var theme = window.localStorage.getItem("mesher-theme");
    if (theme === "dark" || theme === "light") {
      document.documentElement.setAttribute("data-theme", theme);
    }
  } catch (e) {
    // Storage disabled (privacy settings): the system theme applies.
  }
})();
