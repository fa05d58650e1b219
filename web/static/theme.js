/* The saved theme, applied before the page paints (a file, not inline: the CSP allows no inline script).
   No saved choice means "follow the system". */
try{var t=localStorage.getItem("agentdeck-theme");if(t==="dark"||t==="light")document.documentElement.dataset.theme=t}catch(e){}
