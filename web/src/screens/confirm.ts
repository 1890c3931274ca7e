// The pages the links in our mails open: activating a new account (choosing its password) and
// moving an account to a new e-mail address. Both sign the user in as that account.

import { api, saveSession } from "../api";
import { accountLinkProblem, emailLinkProblem, MAX_PASSWORD, MIN_PASSWORD, newPasswordProblem, type LinkProblem } from "../account";
import { busy, errorBox, h, show } from "../ui";
import { afterLogin } from "../main";

/** Where a failed link sends the user next, as a link (none when retrying is the way). */
function nextStep(p: LinkProblem): HTMLElement | null {
  switch (p.next) {
    case "register":
      return h("p", {}, h("a", { href: "#/register" }, "Sign up again"));
    case "login":
      return h("p", {}, h("a", { href: "#/login" }, "Log in"));
    case "profile":
      return h("p", {}, h("a", { href: "#/profile" }, "Go to your profile"));
    default:
      return null;
  }
}

/** `#/confirm/{token}`: the link of the sign-up mail. The account's password is chosen here. */
export function confirmAccountScreen(token: string): void {
  const errors = errorBox();
  const help = h("div", {});
  const password = h("input", {
    type: "password", name: "new-password", autocomplete: "new-password", required: true,
    minlength: String(MIN_PASSWORD), maxlength: String(MAX_PASSWORD),
  });
  const again = h("input", { type: "password", name: "confirm-password", autocomplete: "new-password", required: true, maxlength: String(MAX_PASSWORD) });
  const submit = h("button", { type: "submit" }, "Activate my account");
  const form = h("form", { "aria-label": "Choose your password" },
    h("label", {}, `Password (at least ${MIN_PASSWORD} characters)`, password),
    h("label", {}, "Password again", again),
    errors.el, help, submit);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    help.replaceChildren();
    void busy(submit, errors, async () => {
      const problem = newPasswordProblem(password.value, again.value);
      if (problem) throw new Error(problem);
      try {
        saveSession(await api.confirmAccount(token, password.value));
      } catch (err) {
        const p = accountLinkProblem(err);
        const next = nextStep(p);
        if (next) help.replaceChildren(next);
        throw new Error(p.message);
      }
      afterLogin();
    });
  });
  show(
    h("section", { class: "card narrow" },
      h("h1", {}, "Choose your password"),
      h("p", { class: "muted" }, "Your e-mail address is confirmed once you choose the password for your account. You are then logged in."),
      form,
    ),
  );
  password.focus();
}

/** `#/confirm-email/{token}`: the link of the mail sent to a new address. One click moves the account there. */
export function confirmEmailScreen(token: string): void {
  const errors = errorBox();
  const help = h("div", {});
  const submit = h("button", { type: "submit" }, "Use this address");
  // A button rather than on opening: mail scanners that open links must not change anything.
  const form = h("form", { "aria-label": "Confirm your new e-mail" }, errors.el, help, h("div", {}, submit));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    help.replaceChildren();
    void busy(submit, errors, async () => {
      try {
        saveSession(await api.confirmEmail(token));
      } catch (err) {
        const p = emailLinkProblem(err);
        const next = nextStep(p);
        if (next) help.replaceChildren(next);
        throw new Error(p.message);
      }
      show(
        h("section", { class: "card narrow" },
          h("h1", {}, "Your e-mail is changed"),
          h("p", { class: "notice", role: "status" }, "Your account now uses the new address. Log in with it from now on."),
          h("p", { class: "links" }, h("a", { href: "#/profile" }, "Your profile"), h("a", { href: "#/worlds" }, "Browse the worlds")),
        ),
      );
    });
  });
  show(
    h("section", { class: "card narrow" },
      h("h1", {}, "Confirm your new e-mail"),
      h("p", { class: "muted" }, "Move your CrowdWire account to the address this link was sent to. You are then logged in."),
      form,
    ),
  );
  submit.focus();
}
