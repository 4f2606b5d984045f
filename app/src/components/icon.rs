//! Icons: Lucide's (<https://lucide.dev>), taken from the `icondata` crate with only
//! that set compiled in, drawn inline as SVG in the text colour.

use leptos::prelude::*;

pub use icondata::Icon as IconData;

/// An inline icon, `1em` square. Decorative — hidden from screen readers, because the
/// text beside it says the same — unless `label` is given; then it is an image with
/// that accessible name (for an icon that stands alone).
#[component]
pub fn Icon(
    icon: IconData,
    #[prop(optional, into)] label: Option<String>,
    #[prop(optional)] class: &'static str,
) -> impl IntoView {
    let decorative = label.is_none();
    view! {
        <svg
            class=if class.is_empty() { "icon".to_owned() } else { format!("icon {class}") }
            viewBox=icon.view_box.unwrap_or("0 0 24 24")
            width="1em"
            height="1em"
            fill=icon.fill.unwrap_or("none")
            stroke=icon.stroke.unwrap_or("currentColor")
            stroke-width=icon.stroke_width.unwrap_or("2")
            stroke-linecap=icon.stroke_linecap.unwrap_or("round")
            stroke-linejoin=icon.stroke_linejoin.unwrap_or("round")
            aria-hidden=decorative.then_some("true")
            role=(!decorative).then_some("img")
            aria-label=label
            focusable="false"
            inner_html=icon.data
        ></svg>
    }
}

/// The icon of an event type, by the name the engine's catalog gives it
/// (`DomainEvent::icon`); a dot for a name this build does not draw.
pub fn event_icon(name: &str) -> IconData {
    use icondata as i;
    match name {
        "archive" => i::LuArchive,
        "archive-restore" => i::LuArchiveRestore,
        "arrow-left-right" => i::LuArrowLeftRight,
        "arrow-right" => i::LuArrowRight,
        "building" => i::LuBuilding,
        "circle-dot" => i::LuCircleDot,
        "columns" => i::LuColumns2,
        "folder-plus" => i::LuFolderPlus,
        "layout-dashboard" => i::LuLayoutDashboard,
        "message-square" => i::LuMessageSquare,
        "message-square-x" => i::LuMessageSquareX,
        "pencil" => i::LuPencil,
        "square-plus" => i::LuSquarePlus,
        "trash" => i::LuTrash2,
        "user-check" => i::LuUserCheck,
        "user-cog" => i::LuUserCog,
        "user-minus" => i::LuUserMinus,
        "user-plus" => i::LuUserPlus,
        _ => i::LuDot,
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    /// Every icon the engine's catalog names is drawn (none falls back to the dot).
    #[test]
    fn every_catalog_icon_has_a_drawing() {
        for kind in chronicle::events::registry::KINDS {
            assert_ne!(
                event_icon(kind.icon),
                icondata::LuDot,
                "{} names {:?}, which event_icon does not draw",
                kind.type_name,
                kind.icon
            );
        }
    }
}
