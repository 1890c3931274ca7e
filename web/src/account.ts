// The rules of the account screens that need no page: what a new password must be, how to read
// the outcome of an e-mail change, and what a failed link from a mail means in plain words.
// Kept free of the DOM so that the unit tests (tests/account.test.ts) run them in Node.

import { ApiError } from "./api";

/** The shortest password the forms accept (the server takes 1–256 characters; we ask for more). */
export const MIN_PASSWORD = 8;
export const MAX_PASSWORD = 256;

/** Why a new password typed twice cannot be used, or null when it can. */
export function newPasswordProblem(password: string, again: string): string | null {
  if (password.length < MIN_PASSWORD) return `The new password needs at least ${MIN_PASSWORD} characters.`;
  if (password.length > MAX_PASSWORD) return `The new password can have at most ${MAX_PASSWORD} characters.`;
  if (password !== again) return "The two new passwords differ. Type the same one twice.";
  return null;
}

/** E-mail addresses compare without regard to case (the server does the same). */
export const sameEmail = (a: string, b: string): boolean => a.trim().toLowerCase() === b.trim().toLowerCase();

/**
 * What a saved e-mail change did: "changed" when the account the server returned already has
 * the new address (a server without mail changes it at once), "mailed" when it still has
 * another one (a link went to the new address, and the change waits for it).
 */
export function emailChangeOutcome(requested: string, returned: string): "changed" | "mailed" {
  return sameEmail(requested, returned) ? "changed" : "mailed";
}

/** A mailed link that failed: what to tell the person, and where they can go from there. */
export interface LinkProblem {
  message: string;
  next: "register" | "login" | "profile" | null;
}

/** The failure of `POST /confirm/{token}` (a new account's link), in plain words. */
export function accountLinkProblem(e: unknown): LinkProblem {
  if (e instanceof ApiError && e.status === 404) {
    if (/confirmed/i.test(e.message)) {
      return { message: "This account is already confirmed, or no longer exists. Log in with your password.", next: "login" };
    }
    return { message: "This link has expired or is not valid. Sign up again to get a new one.", next: "register" };
  }
  return { message: e instanceof Error ? e.message : String(e), next: null };
}

/** The failure of `POST /confirm-email/{token}` (the link of an e-mail change), in plain words. */
export function emailLinkProblem(e: unknown): LinkProblem {
  if (e instanceof ApiError && e.status === 404) {
    return {
      message: "This link has expired or no longer works (a link stops working once it is used or the password changes). Change the e-mail again from your profile to get a new one.",
      next: "profile",
    };
  }
  if (e instanceof ApiError && e.status === 400 && /already exists/i.test(e.message)) {
    return { message: "Another account already uses this address, so yours cannot move to it.", next: "profile" };
  }
  return { message: e instanceof Error ? e.message : String(e), next: null };
}
