//! The friendly page a browser gets for a [`PageError`]: rendered by the error-handler
//! middleware around every response, with the visitor's header and navigation.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError, web};
use serde::Serialize;

use super::AppState;
use super::html::{Layout, Nav, html_response};
use super::page_error::PageError;
use super::session;

#[derive(Serialize)]
struct ErrorPage {
    layout: Layout,
    status: u16,
    title: String,
    message: String,
}

/// The middleware's handler: a response that carries a [`PageError`] (other than the login
/// redirect) gets the error page as its body, with the visitor's header and navigation.
pub fn render_error_pages<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let page = response
        .response()
        .error()
        .and_then(|error| error.as_error::<PageError>())
        .filter(|error| !matches!(error, PageError::LoginRequired { .. }))
        .and_then(|error| {
            let state = response.request().app_data::<web::Data<AppState>>()?;
            let staff = session::staff(response.request());
            let page = ErrorPage {
                layout: Layout::new(state, &error.title(), Nav::Error, staff.as_ref(), false),
                status: error.status_code().as_u16(),
                title: error.title(),
                message: error.message(),
            };
            match state
                .renderer
                .render_page("pages/error", &page.layout, &page)
            {
                Ok(body) => Some(body),
                Err(err) => {
                    tracing::error!(error = %err, "the error page failed to render");
                    None
                }
            }
        });
    let Some(body) = page else {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    };
    let (request, old) = response.into_parts();
    let mut new = html_response(old.status(), body);
    if let Some(retry) = old.headers().get(header::RETRY_AFTER) {
        new.headers_mut().insert(header::RETRY_AFTER, retry.clone());
    }
    let new: HttpResponse<BoxBody> = new;
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, new).map_into_right_body(),
    ))
}
