//! Signing in without a password: ask with an e-mail address, then either follow the
//! e-mailed link or type its code.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::auth::{RequestSignIn, SignInWithCode, SignInWithLink};

/// `/sign-in`: the e-mail form (`?email=` pre-fills it, as invitation mails do;
/// `?next=` is the page to go on to once signed in, in this browser).
#[component]
pub fn SignInPage() -> impl IntoView {
    let query = use_query_map();
    let email = move || query.with(|q| q.get("email").unwrap_or_default());
    let next = move || query.with(|q| q.get("next").unwrap_or_default());
    let request = ServerAction::<RequestSignIn>::new();
    let error = move || {
        request
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.to_string())
    };
    view! {
        <section class="page narrow sign-in">
            <h1>"Sign in to Chronicle"</h1>
            <p class="muted">
                "No password: we e-mail you a link and a code. New here? The same form signs you up."
            </p>
            <ActionForm action=request>
                <input type="hidden" name="next" value=next />
                <label for="email">"E-mail address"</label>
                <input
                    id="email"
                    type="email"
                    name="email"
                    required
                    maxlength="254"
                    autocomplete="email"
                    prop:value=email
                />
                <button type="submit" disabled=move || request.pending().get()>
                    "E-mail me a sign-in link"
                </button>
            </ActionForm>
            <Show when=move || error().is_some()>
                <p class="error" role="alert" data-testid="sign-in-error">
                    {error}
                </p>
            </Show>
        </section>
    }
}

/// `/sign-in/check?email=`: "check your e-mail", with the code form.
#[component]
pub fn CheckEmailPage() -> impl IntoView {
    let query = use_query_map();
    let email = move || query.with(|q| q.get("email").unwrap_or_default());
    let verify = ServerAction::<SignInWithCode>::new();
    let error = move || {
        verify
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.to_string())
    };
    view! {
        <section class="page narrow check-email">
            <h1>"Check your e-mail"</h1>
            <p data-testid="check-email">
                "We sent a sign-in link and a code to " <strong>{email}</strong>
                ". Open the link, or type the code here. Both work once, for 15 minutes."
            </p>
            <ActionForm action=verify>
                <input type="hidden" name="email" prop:value=email />
                <label for="code">"Code"</label>
                <input
                    id="code"
                    name="code"
                    required
                    inputmode="numeric"
                    pattern="[0-9]{6}"
                    maxlength="6"
                    autocomplete="one-time-code"
                />
                <button type="submit" disabled=move || verify.pending().get()>
                    "Sign in"
                </button>
            </ActionForm>
            <Show when=move || error().is_some()>
                <p class="error" role="alert" data-testid="code-error">
                    {error}
                </p>
            </Show>
            <p class="muted">
                <a href="/sign-in">"Use another address or send a new code"</a>
            </p>
        </section>
    }
}

/// `/sign-in/verify?token=`: where the e-mailed link lands. Signing in takes a click,
/// so mail scanners that open links do not spend them.
#[component]
pub fn VerifyPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.with(|q| q.get("token").unwrap_or_default());
    let verify = ServerAction::<SignInWithLink>::new();
    let error = move || {
        verify
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.to_string())
    };
    view! {
        <section class="page narrow verify">
            <h1>"Sign in to Chronicle"</h1>
            <ActionForm action=verify>
                <input type="hidden" name="token" prop:value=token />
                <button type="submit" disabled=move || verify.pending().get()>
                    "Sign in"
                </button>
            </ActionForm>
            <Show when=move || error().is_some()>
                <p class="error" role="alert" data-testid="link-error">
                    {error}
                </p>
                <p>
                    <a href="/sign-in">"Ask for a new link"</a>
                </p>
            </Show>
        </section>
    }
}
