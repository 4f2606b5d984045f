//! Chronicle's Leptos application: the HTML shell, routes, pages and the server
//! functions they call. Compiled twice: with `ssr` into the server (where server
//! functions run and call the engine) and with `hydrate` into the WebAssembly bundle
//! (where they become HTTP calls). Nothing here talks SQL.

pub mod api;
pub mod components;
pub mod error;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{ParamSegment, SsrMode, StaticSegment};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                // The chosen theme, before anything is painted.
                <script inner_html=components::THEME_SCRIPT></script>
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
    provide_context(components::WhoChanged::new());

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
            <components::TopBar />
            <main>
                // Static paths first; team slugs never take their names (see
                // chronicle::accounts::RESERVED_SLUGS). Pages whose answer can be an
                // error render in Async mode, so their status is set before the body.
                <Routes fallback=pages::NotFound>
                    <Route path=StaticSegment("") view=pages::HomePage ssr=SsrMode::Async />
                    <Route path=StaticSegment("sign-in") view=pages::SignInPage />
                    <Route
                        path=(StaticSegment("sign-in"), StaticSegment("check"))
                        view=pages::CheckEmailPage
                    />
                    <Route
                        path=(StaticSegment("sign-in"), StaticSegment("verify"))
                        view=pages::VerifyPage
                    />
                    <Route
                        path=(StaticSegment("dev"), StaticSegment("mailbox"))
                        view=pages::MailboxPage
                        ssr=SsrMode::Async
                    />
                    <Route path=ParamSegment("account") view=pages::TeamPage ssr=SsrMode::Async />
                    <Route
                        path=(ParamSegment("account"), StaticSegment("activity"))
                        view=pages::ActivityPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(ParamSegment("account"), StaticSegment("members"))
                        view=pages::MembersPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(ParamSegment("account"), StaticSegment("boards"), ParamSegment("board"))
                        view=pages::BoardPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(ParamSegment("account"), StaticSegment("cards"), ParamSegment("card"))
                        view=pages::CardPage
                        ssr=SsrMode::Async
                    />
                </Routes>
            </main>
        </Router>
    }
}
