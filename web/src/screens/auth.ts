// Log-in, sign-up and "play as guest".

import { api, ApiError, saveSession } from "../api";
import { busy, errorBox, h, show } from "../ui";
import { afterLogin, takeLoginNotice } from "../main";

function field(label: string, attrs: Record<string, string | boolean>): { wrap: HTMLElement; input: HTMLInputElement } {
  const input = h("input", attrs);
  return { wrap: h("label", {}, label, input), input };
}

function guestButton(errors: ReturnType<typeof errorBox>): HTMLButtonElement {
  const b = h("button", { type: "button", class: "secondary" }, "Play as guest");
  b.addEventListener("click", () =>
    busy(b, errors, async () => {
      saveSession(await api.guest());
      afterLogin();
    }),
  );
  return b;
}

export function loginScreen(): void {
  const errors = errorBox();
  // Why the user is here, when they did not come on their own (a session that ended, a password change).
  const why = takeLoginNotice();
  const notice = why ? h("p", { class: "notice", role: "status" }, why) : null;
  const email = field("E-mail", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = field("Password", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit" }, "Log in");
  const form = h("form", { "aria-label": "Log in" }, email.wrap, password.wrap, errors.el, submit);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void busy(submit, errors, async () => {
      saveSession(await api.login(email.input.value.trim(), password.input.value));
      afterLogin();
    });
  });
  show(
    h("section", { class: "card narrow" },
      h("h1", {}, "Log in to CrowdWire"),
      notice,
      form,
      h("p", { class: "links" }, h("a", { href: "#/register" }, "Create an account"), guestButton(errors)),
    ),
  );
  email.input.focus();
}

export function registerScreen(): void {
  const errors = errorBox();
  const notice = h("p", { class: "notice", role: "status", hidden: true });
  const name = field("Name", { name: "name", autocomplete: "nickname", required: true, maxlength: "50" });
  const email = field("E-mail", { type: "email", name: "email", autocomplete: "email", required: true });
  const password = field("Password (at least 8 characters)", {
    type: "password", name: "password", autocomplete: "new-password", required: true, minlength: "8",
  });
  const submit = h("button", { type: "submit" }, "Sign up");
  const form = h("form", { "aria-label": "Sign up" }, name.wrap, email.wrap, password.wrap, errors.el, notice, submit);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void busy(submit, errors, async () => {
      const addr = email.input.value.trim();
      await api.register(name.input.value.trim(), addr, password.input.value);
      try {
        saveSession(await api.login(addr, password.input.value));
        afterLogin();
      } catch (err) {
        // With e-mail confirmation on, the account stays pending until the link is opened.
        if (err instanceof ApiError && err.status < 500) {
          notice.textContent = `Almost there: open the link we sent to ${addr} to choose your password and activate your account.`;
          notice.hidden = false;
        } else throw err;
      }
    });
  });
  show(
    h("section", { class: "card narrow" },
      h("h1", {}, "Create your account"),
      form,
      h("p", { class: "links" }, h("a", { href: "#/login" }, "I already have an account"), guestButton(errors)),
    ),
  );
  name.input.focus();
}
