// Unit tests for the account screens' rules (src/account.ts): what a new password must be, how a
// saved e-mail change is read, and what a failed link from a mail tells the person.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { accountLinkProblem, emailChangeOutcome, emailLinkProblem, newPasswordProblem, sameEmail } from "../src/account";
import { ApiError } from "../src/api";

describe("newPasswordProblem", () => {
  test("accepts 8 characters typed the same twice", () => {
    assert.equal(newPasswordProblem("12345678", "12345678"), null);
  });
  test("refuses fewer than 8 characters, before comparing", () => {
    assert.match(newPasswordProblem("1234567", "other") ?? "", /at least 8 characters/);
  });
  test("refuses more than the server's 256 characters", () => {
    const long = "x".repeat(257);
    assert.match(newPasswordProblem(long, long) ?? "", /at most 256/);
  });
  test("refuses two different passwords", () => {
    assert.match(newPasswordProblem("long enough", "long enougH") ?? "", /differ/);
  });
});

describe("emailChangeOutcome", () => {
  test("the account already has the new address: changed", () => {
    assert.equal(emailChangeOutcome("New@Example.test", "new@example.test"), "changed");
  });
  test("the account still has the old address: a link was mailed", () => {
    assert.equal(emailChangeOutcome("new@example.test", "old@example.test"), "mailed");
  });
  test("addresses compare without case or surrounding blanks", () => {
    assert.ok(sameEmail(" Una@Example.TEST", "una@example.test"));
    assert.ok(!sameEmail("una@example.test", "una2@example.test"));
  });
});

describe("accountLinkProblem", () => {
  test("an expired or bad token says so and offers signing up again", () => {
    const p = accountLinkProblem(new ApiError("Invalid Token", 404));
    assert.match(p.message, /expired or is not valid/);
    assert.equal(p.next, "register");
  });
  test("an account confirmed already offers logging in", () => {
    const p = accountLinkProblem(new ApiError("User does not exist or is already confirmed", 404));
    assert.match(p.message, /already confirmed/);
    assert.equal(p.next, "login");
  });
  test("other failures keep the server's words and offer no link", () => {
    const p = accountLinkProblem(new ApiError("Too many attempts. Wait a minute and try again.", 429));
    assert.deepEqual(p, { message: "Too many attempts. Wait a minute and try again.", next: null });
  });
});

describe("emailLinkProblem", () => {
  test("an expired or used token says so and points to the profile", () => {
    const p = emailLinkProblem(new ApiError("Invalid Token", 404));
    assert.match(p.message, /expired or no longer works/);
    assert.equal(p.next, "profile");
  });
  test("an address taken since the link was sent is explained", () => {
    const p = emailLinkProblem(new ApiError("A user with that email already exists.", 400));
    assert.match(p.message, /Another account already uses this address/);
  });
  test("a network failure keeps its message", () => {
    const p = emailLinkProblem(new ApiError("The server cannot be reached. Check your connection and try again.", 0));
    assert.equal(p.next, null);
    assert.match(p.message, /cannot be reached/);
  });
});
