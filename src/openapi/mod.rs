//! Placeholder for the marketplace open-API client (being written on the `openapi` branch).
#![allow(missing_docs, dead_code)]

use std::time::Duration;

use client_verifier::Timestamp;

pub const DEFAULT_BASE_URLS: [&str; 2] = [
    "https://mkt.myhuaweicloud.com",
    "https://mkt.myhuaweicloud.cn",
];

pub struct ApiConfig {
    pub base_urls: Vec<String>,
    pub ak: String,
    pub sk: zeroize::Zeroizing<String>,
    pub timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct MarketplaceApi {
    base: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderInfo {
    pub order_id: String,
    pub order_type: String,
    pub create_time: Option<Timestamp>,
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub lines: Vec<OrderLine>,
}

impl OrderInfo {
    pub fn line(&self, order_line_id: &str) -> Option<&OrderLine> {
        self.lines.iter().find(|l| l.order_line_id == order_line_id)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine {
    pub order_line_id: String,
    pub charging_mode: String,
    pub expire_time: Option<Timestamp>,
    pub product_id: Option<String>,
    pub sku_code: Option<String>,
    pub quantity: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not built yet")]
    Todo,
}

impl ApiError {
    pub fn retryable(&self) -> bool {
        true
    }
    pub fn code(&self) -> Option<&str> {
        None
    }
}

impl MarketplaceApi {
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        Ok(MarketplaceApi {
            base: config.base_urls,
        })
    }
    pub async fn query_order(
        &self,
        _order_id: &str,
        _order_line_id: Option<&str>,
    ) -> Result<OrderInfo, ApiError> {
        Err(ApiError::Todo)
    }
    pub async fn upload_characters(
        &self,
        _event_id: &str,
        _characters: &str,
    ) -> Result<(), ApiError> {
        Err(ApiError::Todo)
    }
}
