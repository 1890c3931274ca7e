// The caller's account: name and birth date, e-mail, password, and signing out everywhere.

import { api, saveSession } from "../api";
import { localTime, manage, type Account } from "../api-manage";
import { emailChangeOutcome, MAX_PASSWORD, MIN_PASSWORD, newPasswordProblem, sameEmail } from "../account";
import { busy, errorBox, h, show } from "../ui";
import { signOut } from "../main";
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
  const summary = h("p", { class: "muted" });
  const page = h("section", { class: "narrow-wide" },
    h("h1", {}, "Your profile"),
    summary,
    detailsForm(me),
    emailForm(me, () => showEmail()),
    passwordForm(me),
    sessionsCard());
  /** Shows the account's e-mail where the page names it (the hidden usernames are for password managers). */
  const showEmail = () => {
    summary.textContent = `${me.email} · member since ${localTime(me.register_date)}`;
    // The default value too, or resetting a form would bring the old address back.
    for (const u of page.querySelectorAll<HTMLInputElement>('input[autocomplete="username"]')) u.defaultValue = u.value = me.email;
  };
  showEmail();
  show(page);
}

/** The e-mail as a hidden username field: it tells password managers which account a form is for. */
const hiddenUsername = (me: Account) =>
  h("input", { type: "email", name: "username", autocomplete: "username", value: me.email, hidden: true, readonly: true, tabindex: "-1" });

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
      Object.assign(me, await manage.updateUser(me.user_id, { name: n, ...(birth.value ? { birth: birth.value } : {}) }));
      name.value = me.name;
      saved.set("Your details are saved.");
    });
  });
  return form;
}

/**
 * Moving the account to another address. A server that sends mail mails a link to the new
 * address and changes nothing until it is opened; one that does not changes it at once, given
 * the current password.
 */
function emailForm(me: Account, changed: () => void): HTMLElement {
  const errors = errorBox();
  const saved = noticeBox();
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true, maxlength: "100" });
  // Accounts made with Google may have no password; a server that mails the link needs none.
  const current = h("input", { type: "password", name: "current-password", autocomplete: "current-password", required: !me.sub, maxlength: String(MAX_PASSWORD) });
  const submit = h("button", { type: "submit" }, "Change e-mail");
  const form = h("form", { class: "card", "aria-labelledby": "profile-email" },
    h("h2", { id: "profile-email" }, "E-mail"),
    hiddenUsername(me),
    h("label", {}, "New e-mail", email),
    h("label", {}, me.sub ? "Current password (if your account has one)" : "Current password", current),
    errors.el, saved.el, h("div", {}, submit));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    saved.set(null);
    void busy(submit, errors, async () => {
      const addr = email.value.trim();
      if (!addr) throw new Error("Enter the new e-mail address.");
      if (sameEmail(addr, me.email)) throw new Error(`Your account already uses ${me.email}.`);
      let account: Account;
      try {
        account = await manage.updateUser(me.user_id, { email: addr, current_password: current.value });
      } catch (err) {
        // The server names its field (current_password); say it in words.
        if (/current_password/.test(message(err))) {
          throw new Error(current.value
            ? "The current password is not right."
            : "This server changes an e-mail only with the account's password, and this account has none.");
        }
        throw err;
      }
      form.reset();
      if (emailChangeOutcome(addr, account.email) === "changed") {
        Object.assign(me, account);
        changed();
        saved.set(`Your e-mail is changed to ${account.email}. Log in with it from now on.`);
      } else {
        saved.set(`We sent a link to ${addr}; open it to finish the change. Until then your e-mail stays ${account.email}.`);
      }
    });
  });
  return form;
}

function passwordForm(me: Account): HTMLElement {
  const errors = errorBox();
  const saved = noticeBox();
  const current = h("input", { type: "password", name: "current-password", autocomplete: "current-password", required: true, maxlength: String(MAX_PASSWORD) });
  const next = h("input", { type: "password", name: "new-password", autocomplete: "new-password", required: true, minlength: String(MIN_PASSWORD), maxlength: String(MAX_PASSWORD) });
  const again = h("input", { type: "password", name: "confirm-password", autocomplete: "new-password", required: true, maxlength: String(MAX_PASSWORD) });
  const submit = h("button", { type: "submit" }, "Change password");
  const form = h("form", { class: "card", "aria-labelledby": "profile-password" },
    h("h2", { id: "profile-password" }, "Password"),
    me.sub ? h("p", { class: "muted" }, "You signed in with Google, so this account may have no password here.") : null,
    hiddenUsername(me),
    h("label", {}, "Current password", current),
    h("label", {}, `New password (at least ${MIN_PASSWORD} characters)`, next),
    h("label", {}, "New password again", again),
    errors.el, saved.el, h("div", {}, submit));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    saved.set(null);
    void busy(submit, errors, async () => {
      const problem = newPasswordProblem(next.value, again.value);
      if (problem) throw new Error(problem);
      try {
        await manage.changePassword(current.value, next.value);
      } catch (err) {
        // The server says only "Invalid password." when the current one is wrong.
        if ((err as Error).message === "Invalid password.") throw new Error("The current password is not right.");
        throw err;
      }
      // The change ended every session of the account, this one too: log in again with the
      // new password, so that only the other devices are signed out.
      try {
        saveSession(await api.login(me.email, next.value));
      } catch {
        signOut("Your password is changed. Log in with the new one.");
        return;
      }
      form.reset();
      saved.set("Your password is changed. Other devices are signed out.");
    });
  });
  return form;
}

/** Ending every session of the account, on every device (this one too). */
function sessionsCard(): HTMLElement {
  const errors = errorBox();
  const button = h("button", { type: "button", class: "danger" }, "Sign out everywhere");
  button.addEventListener("click", () => void busy(button, errors, async () => {
    if (!confirm("Sign out everywhere? Every device signed in to your account is signed out, this one too, and anyone in a world is disconnected.")) return;
    await manage.logoutEverywhere();
    signOut("You are signed out on every device.");
  }));
  return h("section", { class: "card", "aria-labelledby": "profile-sessions" },
    h("h2", { id: "profile-sessions" }, "Signed-in devices"),
    h("p", { class: "muted" }, "Left your account signed in on a shared computer, or lost a phone? Sign out everywhere ends every session of your account."),
    errors.el, h("div", {}, button));
}
