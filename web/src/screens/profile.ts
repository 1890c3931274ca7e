// The caller's account: name and birth date, and a password change.

import { localTime, manage, type Account } from "../api-manage";
import { busy, errorBox, h, show } from "../ui";
import { message, noticeBox } from "./settings";

export async function profileScreen(): Promise<void> {
  show(h("p", { class: "muted" }, "Loading…"));
  let me: Account;
  try {
    me = await manage.me();
  } catch (e) {
    const errors = errorBox();
    errors.set(message(e));
    show(h("section", { class: "card narrow" }, h("h1", {}, "Your profile"), errors.el, h("p", {}, h("a", { href: "#/worlds" }, "Back to the worlds"))));
    return;
  }
  show(h("section", { class: "narrow-wide" },
    h("h1", {}, "Your profile"),
    h("p", { class: "muted" }, `${me.email} · member since ${localTime(me.register_date)}`),
    detailsForm(me),
    passwordForm(me)));
}

function detailsForm(me: Account): HTMLElement {
  const errors = errorBox();
  const saved = noticeBox();
  const name = h("input", { name: "name", autocomplete: "nickname", required: true, maxlength: "50", value: me.name });
  const birth = h("input", { type: "date", name: "birth", autocomplete: "bday", value: me.birth ?? "", max: new Date().toISOString().slice(0, 10) });
  const submit = h("button", { type: "submit" }, "Save");
  const form = h("form", { class: "card", "aria-labelledby": "profile-details" },
    h("h2", { id: "profile-details" }, "Details"),
    h("label", {}, "Name", name),
    h("label", {}, "Birth date (optional)", birth),
    errors.el, saved.el, h("div", {}, submit));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    saved.set(null);
    void busy(submit, errors, async () => {
      const n = name.value.trim();
      if (!n) throw new Error("Enter your name.");
      // The API keeps the old birth date when none is sent and accepts no empty one.
      if (!birth.value && me.birth) throw new Error("A birth date can be changed but not removed.");
      me = await manage.updateUser(me.user_id, { name: n, ...(birth.value ? { birth: birth.value } : {}) });
      name.value = me.name;
      saved.set("Your details are saved.");
    });
  });
  return form;
}

function passwordForm(me: Account): HTMLElement {
  const errors = errorBox();
  const saved = noticeBox();
  const current = h("input", { type: "password", name: "current-password", autocomplete: "current-password", required: true, maxlength: "256" });
  const next = h("input", { type: "password", name: "new-password", autocomplete: "new-password", required: true, minlength: "8", maxlength: "256" });
  const again = h("input", { type: "password", name: "confirm-password", autocomplete: "new-password", required: true, maxlength: "256" });
  const submit = h("button", { type: "submit" }, "Change password");
  // The e-mail as a hidden username helps password managers file the new password.
  const form = h("form", { class: "card", "aria-labelledby": "profile-password" },
    h("h2", { id: "profile-password" }, "Password"),
    me.sub ? h("p", { class: "muted" }, "You signed in with Google, so this account may have no password here.") : null,
    h("input", { type: "email", name: "username", autocomplete: "username", value: me.email, hidden: true, readonly: true, tabindex: "-1" }),
    h("label", {}, "Current password", current),
    h("label", {}, "New password (at least 8 characters)", next),
    h("label", {}, "New password again", again),
    errors.el, saved.el, h("div", {}, submit));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    saved.set(null);
    void busy(submit, errors, async () => {
      if (next.value.length < 8) throw new Error("The new password needs at least 8 characters.");
      if (next.value !== again.value) throw new Error("The two new passwords differ. Type the same one twice.");
      try {
        await manage.changePassword(current.value, next.value);
      } catch (err) {
        // The server says only "Invalid password." when the current one is wrong.
        if ((err as Error).message === "Invalid password.") throw new Error("The current password is not right.");
        throw err;
      }
      form.reset();
      saved.set("Your password is changed.");
    });
  });
  return form;
}
