// Opening an invite link: join the world it names, then enter it.

import { api } from "../api";
import { errorBox, h, show } from "../ui";
import { message } from "./settings";

export async function inviteScreen(token: string): Promise<void> {
  show(h("section", { class: "card narrow" }, h("h1", {}, "Joining the world…"), h("p", { class: "muted", role: "status" }, "Checking your invite.")));
  try {
    const m = await api.joinByInvite(token);
    // Replace rather than push, so going Back does not redeem the invite again.
    location.replace(`#/world/${m.world_id}`);
  } catch (e) {
    const errors = errorBox();
    errors.set(message(e));
    show(h("section", { class: "card narrow" },
      h("h1", {}, "This invite does not work"),
      errors.el,
      h("p", { class: "muted" }, "Invite links expire after a while, and stop working when the person who made one may no longer invite. Ask for a new link."),
      h("p", {}, h("a", { href: "#/worlds" }, "Browse the worlds"))));
  }
}
