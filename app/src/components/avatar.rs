//! People's avatars: initials on a colour derived from the person, so no image service
//! is needed and a person looks the same on every page and every machine.

use leptos::prelude::*;

/// A round avatar with `name`'s initials. Decorative when the name is written beside
/// it; with `label` (e.g. "Assigned to Ana"), an image with that accessible name.
#[component]
pub fn Avatar(
    #[prop(into)] name: String,
    #[prop(optional, into)] label: Option<String>,
    /// `"small"` for cards and feed items; the default suits the top bar and lists.
    #[prop(optional)]
    size: &'static str,
) -> impl IntoView {
    let decorative = label.is_none();
    let style = format!("--avatar-hue: {}", hue(&name));
    let class = if size.is_empty() {
        "avatar".to_owned()
    } else {
        format!("avatar {size}")
    };
    view! {
        <span
            class=class
            style=style
            aria-hidden=decorative.then_some("true")
            role=(!decorative).then_some("img")
            aria-label=label
            title=name.clone()
        >
            {initials(&name)}
        </span>
    }
}

/// Up to two letters: the first of the first and the last word (`Ana Lima` → `AL`), or
/// of the one word; for an e-mail address, of the part before the `@`.
pub fn initials(name: &str) -> String {
    let name = name.split('@').next().unwrap_or(name);
    let words: Vec<&str> = name
        .split(|c: char| c.is_whitespace() || c == '.' || c == '_' || c == '-')
        .filter(|w| !w.is_empty())
        .collect();
    let first = |w: &str| {
        w.chars()
            .next()
            .map(|c| c.to_uppercase().collect::<String>())
    };
    match words.as_slice() {
        [] => "?".to_owned(),
        [only] => first(only).unwrap_or_default(),
        [head, .., last] => first(head).unwrap_or_default() + &first(last).unwrap_or_default(),
    }
}

/// A hue (0–359) from the name: FNV-1a, stable across builds and machines.
pub fn hue(name: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.trim().to_lowercase().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % 360
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_take_the_first_and_last_word() {
        assert_eq!(initials("Ana Lima"), "AL");
        assert_eq!(initials("Ana Maria Lima"), "AL");
        assert_eq!(initials("bob"), "B");
        assert_eq!(initials("cleo.smith@example.com"), "CS");
        assert_eq!(initials("  "), "?");
        assert_eq!(initials("émile zola"), "ÉZ");
    }

    #[test]
    fn a_person_keeps_one_colour() {
        assert_eq!(hue("Ana Lima"), hue("ana lima "));
        assert!(hue("Ana Lima") < 360);
        assert_ne!(hue("Ana Lima"), hue("Bob Stone"));
    }
}
