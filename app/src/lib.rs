//! Chronicle's Leptos application: the HTML shell, routes, pages and the server
//! functions they call. Compiled twice: with `ssr` into the server (where server
//! functions run and call the engine) and with `hydrate` into the WebAssembly bundle
//! (where they become HTTP calls). Nothing here talks SQL.

pub mod api;
pub mod error;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::StaticSegment;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <link rel="icon" href="/favicon.ico" />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The root component: routes and app-wide context.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    // Effects run only in the browser, once the app is interactive: this marker is how
    // people and end-to-end tests can tell hydration has finished.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/chronicle.css" />
        <Title text="Chronicle" />
        <Router>
            <header class="topbar">
                <a class="brand" href="/">
                    "Chronicle"
                </a>
            </header>
            <main>
                <Routes fallback=pages::NotFound>
                    <Route path=StaticSegment("") view=pages::HomePage />
                </Routes>
            </main>
        </Router>
    }
}
