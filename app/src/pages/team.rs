//! `/:account`: a team's home: its projects and their boards.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::boards::{
    projects, ArchiveProject, CreateBoard, CreateProject, ProjectView, RenameProject,
};
use crate::components::{ErrorMessage, LastError};

/// The `:account` segment of the URL.
pub fn account_param() -> impl Fn() -> String + Copy + Send + Sync + 'static {
    let params = use_params_map();
    move || params.with(|p| p.get("account").unwrap_or_default())
}

#[component]
pub fn TeamPage() -> impl IntoView {
    let account = account_param();
    let create_project = ServerAction::<CreateProject>::new();
    let create_board = ServerAction::<CreateBoard>::new();
    let archive = ServerAction::<ArchiveProject>::new();
    let rename = ServerAction::<RenameProject>::new();
    let data = Resource::new(
        move || {
            (
                account(),
                create_project.version().get(),
                archive.version().get(),
                rename.version().get(),
            )
        },
        |(account, ..)| projects(account),
    );
    let last_error = LastError::new()
        .watch(create_project)
        .watch(create_board)
        .watch(archive)
        .watch(rename);
    let error = move || last_error.get();
    view! {
        <section class="page team">
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    data.get()
                        .map(|r| match r {
                            Err(e) => view! { <ErrorMessage error=e /> }.into_any(),
                            Ok(d) => {
                                let slug = d.team.slug.clone();
                                let members = format!("/{slug}/members");
                                let activity = format!("/{slug}/activity");
                                let projects = d
                                    .projects
                                    .into_iter()
                                    .map(|p| project_view(p, &slug, create_board, archive, rename))
                                    .collect_view();
                                let account_field = slug.clone();
                                view! {
                                    <h1 data-testid="team-name">{d.team.name}</h1>
                                    <p class="muted">
                                        "You are " {d.team.role} " of this team · "
                                        <a href=members data-testid="members-link">"Members"</a>
                                        " · "
                                        <a href=activity data-testid="activity-link">"Activity"</a>
                                    </p>
                                    <h2>"Projects"</h2>
                                    <ul class="projects" data-testid="projects">{projects}</ul>
                                    <ActionForm action=create_project attr:class="create-project">
                                        <input type="hidden" name="account" value=account_field />
                                        <label for="project-name">"New project"</label>
                                        <input id="project-name" type="text" name="name" required maxlength="80" placeholder="e.g. Website" />
                                        <button type="submit">"Create project"</button>
                                    </ActionForm>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
            <Show when=move || error().is_some()>
                <p class="error" role="alert" data-testid="team-error">{error}</p>
            </Show>
        </section>
    }
}

fn project_view(
    p: ProjectView,
    slug: &str,
    create_board: ServerAction<CreateBoard>,
    archive: ServerAction<ArchiveProject>,
    rename: ServerAction<RenameProject>,
) -> impl IntoView {
    let boards = p
        .boards
        .iter()
        .map(|b| {
            let href = format!("/{slug}/boards/{}", b.id);
            let name = b.name.clone();
            view! {
                <li>
                    <a href=href>{name}</a>
                </li>
            }
        })
        .collect_view();
    let active = (!p.archived).then(|| {
        let (a1, a2, a3) = (slug.to_owned(), slug.to_owned(), slug.to_owned());
        let (p1, p2, p3) = (p.id.to_string(), p.id.to_string(), p.id.to_string());
        let (rename_label, current_name) = (format!("New name for {}", p.name), p.name.clone());
        let board_label = format!("New board in {}", p.name);
        let reason_label = format!("Why archive {}?", p.name);
        view! {
            <ActionForm action=create_board attr:class="inline create-board">
                <input type="hidden" name="account" value=a1 />
                <input type="hidden" name="project_id" value=p1 />
                <input type="text" name="name" required maxlength="80" placeholder="Board name" aria-label=board_label />
                <button type="submit">"Create board"</button>
            </ActionForm>
            <details class="archive-project">
                <summary>"Rename…"</summary>
                <ActionForm action=rename attr:class="inline">
                    <input type="hidden" name="account" value=a3 />
                    <input type="hidden" name="project_id" value=p3 />
                    <input type="text" name="name" required maxlength="80" value=current_name aria-label=rename_label />
                    <button type="submit">"Rename project"</button>
                </ActionForm>
            </details>
            <details class="archive-project">
                <summary>"Archive…"</summary>
                <ActionForm action=archive attr:class="inline">
                    <input type="hidden" name="account" value=a2 />
                    <input type="hidden" name="project_id" value=p2 />
                    <input type="text" name="reason" required maxlength="500" placeholder="Reason (required)" aria-label=reason_label />
                    <button type="submit">"Archive project"</button>
                </ActionForm>
            </details>
        }
    });
    let archived = p
        .archive_reason
        .clone()
        .map(|r| view! { <p class="muted">"Archived: " {r}</p> });
    let activity = format!("/{slug}/activity?project={}", p.id);
    let (name, key) = (p.name.clone(), p.name.clone());
    view! {
        <li class="project" data-project=key>
            <h3>{name}</h3>
            {archived}
            <p class="muted">
                <a href=activity>"Project activity"</a>
            </p>
            <ul class="boards">{boards}</ul>
            {active}
        </li>
    }
}
