// Small DOM helpers: build elements without innerHTML (so no user text is ever parsed
// as markup) and show errors where the user is looking.

type Attrs = Record<string, string | boolean | ((e: Event) => void)>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false) el.setAttribute(k, v);
  }
  for (const c of children) if (c) el.append(c);
  return el;
}

/** Replaces the page's content and moves focus to it (for keyboard and screen-reader users). */
export function show(...nodes: Node[]): void {
  const app = document.getElementById("app");
  if (!app) return;
  app.replaceChildren(...nodes);
  app.focus();
}

/** An error box that reads its message out when it changes. */
export function errorBox(): { el: HTMLElement; set(message: string | null): void } {
  const el = h("p", { class: "error", role: "alert", hidden: true });
  return {
    el,
    set(message) {
      el.textContent = message ?? "";
      el.hidden = !message;
    },
  };
}

/** Runs `action` with `button` disabled, reporting a failure in `errors`. */
export async function busy(button: HTMLButtonElement, errors: { set(m: string | null): void }, action: () => Promise<void>) {
  button.disabled = true;
  errors.set(null);
  try {
    await action();
  } catch (e) {
    errors.set(e instanceof Error ? e.message : String(e));
  } finally {
    button.disabled = false;
  }
}
