// fspbx-sms dashboard: copy buttons, delete confirmations, live conversation updates (server-sent events).
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copy);
  field.select();
  const done = () => { button.textContent = "Copied"; };
  if (navigator.clipboard) {
    navigator.clipboard.writeText(field.value).then(done, () => { document.execCommand("copy"); done(); });
  } else {
    document.execCommand("copy");
    done();
  }
});

document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

function renderBubble(message) {
  const item = document.createElement("li");
  item.className = `bubble ${message.direction}`;
  item.id = `message-${message.id}`;
  item.dataset.id = message.id;
  for (const media of message.media) {
    const picture = document.createElement("img");
    picture.src = media.url;
    picture.alt = "Picture";
    item.append(picture);
  }
  if (message.body) {
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = message.body;
    item.append(text);
  }
  const meta = document.createElement("span");
  meta.className = "meta";
  const time = document.createElement("time");
  time.textContent = message.time;
  const status = document.createElement("span");
  status.className = `status status-${message.status}`;
  status.textContent = message.status;
  meta.append(time, " · ", status);
  if (message.error) {
    const error = document.createElement("span");
    error.className = "error";
    error.textContent = message.error;
    meta.append(" · ", error);
  }
  item.append(meta);
  return item;
}

function followThread(thread) {
  const list = document.getElementById("bubbles");
  const state = document.getElementById("live-state");
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const source = new EventSource(thread.dataset.events);
  source.addEventListener("open", () => { state.textContent = "live"; });
  source.addEventListener("error", () => { state.textContent = "reconnecting…"; });
  const show = (message) => {
    const bubble = renderBubble(message);
    const existing = document.getElementById(bubble.id);
    if (existing) existing.replaceWith(bubble); else list.append(bubble);
    list.scrollTop = list.scrollHeight;
  };
  source.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    show(message);
    if (message.direction === "inbound") {
      fetch(thread.dataset.read, { method: "POST", headers: { "X-CSRFToken": token } });
    }
  });
  source.addEventListener("status", (event) => show(JSON.parse(event.data)));
  list.scrollTop = list.scrollHeight;
}

document.addEventListener("DOMContentLoaded", () => {
  const thread = document.querySelector(".thread[data-events]");
  if (thread) followThread(thread);
});
