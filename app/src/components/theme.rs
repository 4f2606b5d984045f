//! Light and dark: the page follows the system's `prefers-color-scheme` unless the
//! person chose one theme for this browser (kept in `localStorage`, applied as
//! `data-theme` on `<html>` by [`THEME_SCRIPT`] before the first paint, so a dark page
//! never flashes light).

use leptos::prelude::*;

/// Where the choice is kept.
const STORAGE_KEY: &str = "chronicle-theme";

/// Runs in `<head>` before the stylesheet applies: sets the chosen theme, if any.
pub const THEME_SCRIPT: &str = "try{var t=localStorage.getItem('chronicle-theme');\
if(t==='light'||t==='dark')document.documentElement.dataset.theme=t}catch(e){}";

/// The theme menu in the top bar: System (the default), Light, Dark.
#[component]
pub fn ThemeChoice() -> impl IntoView {
    let choice = RwSignal::new("system".to_owned());
    // In the browser, once hydrated: show what is stored.
    Effect::new(move |_| {
        if let Some(stored) = stored_choice() {
            choice.set(stored);
        }
    });
    let on_change = move |ev| {
        let value = event_target_value(&ev);
        apply(&value);
        choice.set(value);
    };
    view! {
        <label class="theme-choice">
            <span class="visually-hidden">"Theme"</span>
            <select on:change=on_change prop:value=move || choice.get() data-testid="theme">
                <option value="system">"System theme"</option>
                <option value="light">"Light"</option>
                <option value="dark">"Dark"</option>
            </select>
        </label>
    }
}

fn stored_choice() -> Option<String> {
    let storage = window().local_storage().ok().flatten()?;
    storage
        .get_item(STORAGE_KEY)
        .ok()
        .flatten()
        .filter(|v| v == "light" || v == "dark")
}

/// Keeps `value` for this browser and shows it at once ("system" forgets the choice).
fn apply(value: &str) {
    let root = document().document_element();
    let storage = window().local_storage().ok().flatten();
    match value {
        "light" | "dark" => {
            if let Some(s) = storage {
                let _ = s.set_item(STORAGE_KEY, value);
            }
            if let Some(root) = root {
                let _ = root.set_attribute("data-theme", value);
            }
        }
        _ => {
            if let Some(s) = storage {
                let _ = s.remove_item(STORAGE_KEY);
            }
            if let Some(root) = root {
                let _ = root.remove_attribute("data-theme");
            }
        }
    }
}
