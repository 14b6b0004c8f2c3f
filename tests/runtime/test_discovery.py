"""Discovery against the real servers and real files: a 22-table shop, read exactly."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from compiler.catalog import Catalog
from runtime.discovery import (
    DiscoveryError,
    DiscoveryOptions,
    connection_identity,
    discover,
    is_sensitive,
    snapshot,
    snapshot_if_changed,
)

pytestmark = pytest.mark.db


@dataclass(frozen=True)
class Connection:
    """The shape of runtime.connections.ResolvedConnection that discovery reads."""

    family: str
    alias: str
    fields: dict[str, Any] = field(default_factory=dict)
    secret_values: frozenset[str] = frozenset()


# -- the shop, in MariaDB ---------------------------------------------------------------------

MYSQL_SHOP = """
CREATE TABLE customers (
  id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL, full_name VARCHAR(100),
  phone VARCHAR(30), password_hash CHAR(60),
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, is_active BOOLEAN NOT NULL DEFAULT 1);
CREATE TABLE addresses (
  id INT PRIMARY KEY, customer_id INT NOT NULL, line1 VARCHAR(200), city VARCHAR(80),
  country CHAR(2) DEFAULT 'DE', FOREIGN KEY (customer_id) REFERENCES customers (id));
CREATE TABLE categories (
  id SMALLINT PRIMARY KEY, parent_id SMALLINT, name VARCHAR(80) NOT NULL,
  FOREIGN KEY (parent_id) REFERENCES categories (id));
CREATE TABLE products (
  id INT PRIMARY KEY, sku VARCHAR(32) NOT NULL UNIQUE, category_id SMALLINT,
  price DECIMAL(10,2) NOT NULL DEFAULT 0.00, weight_kg FLOAT, rating DOUBLE, attributes JSON,
  description TEXT, image MEDIUMBLOB, FOREIGN KEY (category_id) REFERENCES categories (id));
CREATE TABLE orders (
  id BIGINT UNSIGNED PRIMARY KEY, customer_id INT NOT NULL,
  status ENUM('new','paid','shipped') NOT NULL DEFAULT 'new', ordered_at TIMESTAMP NULL,
  total DECIMAL(12,2), FOREIGN KEY (customer_id) REFERENCES customers (id));
CREATE TABLE order_items (
  order_id BIGINT UNSIGNED NOT NULL, line_no SMALLINT NOT NULL, product_id INT NOT NULL,
  quantity INT NOT NULL DEFAULT 1, unit_price DECIMAL(10,2) NOT NULL,
  PRIMARY KEY (order_id, line_no), FOREIGN KEY (order_id) REFERENCES orders (id),
  FOREIGN KEY (product_id) REFERENCES products (id));
CREATE TABLE warehouses (code CHAR(4) PRIMARY KEY, name VARCHAR(80) NOT NULL, opened_on DATE);
CREATE TABLE stock (
  warehouse_code CHAR(4) NOT NULL, product_id INT NOT NULL, on_hand INT NOT NULL DEFAULT 0,
  PRIMARY KEY (warehouse_code, product_id),
  FOREIGN KEY (warehouse_code) REFERENCES warehouses (code),
  FOREIGN KEY (product_id) REFERENCES products (id));
CREATE TABLE shipments (
  id INT PRIMARY KEY, order_id BIGINT UNSIGNED NOT NULL, shipped_at DATETIME(3),
  tracking_token VARCHAR(64), FOREIGN KEY (order_id) REFERENCES orders (id));
CREATE TABLE payments (
  id INT PRIMARY KEY, order_id BIGINT UNSIGNED NOT NULL, amount DECIMAL(12,2) NOT NULL,
  paid_at DATETIME, method SET('card','cash','wire'),
  FOREIGN KEY (order_id) REFERENCES orders (id));
CREATE TABLE refunds (
  id INT PRIMARY KEY, payment_id INT NOT NULL, amount DECIMAL(12,2) NOT NULL, reason TINYTEXT,
  FOREIGN KEY (payment_id) REFERENCES payments (id));
CREATE TABLE suppliers (
  id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, api_key VARCHAR(64),
  contact_email VARCHAR(255));
CREATE TABLE product_suppliers (
  product_id INT NOT NULL, supplier_id INT NOT NULL, cost DECIMAL(10,4),
  PRIMARY KEY (product_id, supplier_id), FOREIGN KEY (product_id) REFERENCES products (id),
  FOREIGN KEY (supplier_id) REFERENCES suppliers (id));
CREATE TABLE reviews (
  id INT PRIMARY KEY, product_id INT NOT NULL, customer_id INT NOT NULL,
  stars TINYINT NOT NULL, body LONGTEXT,
  posted_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  FOREIGN KEY (product_id) REFERENCES products (id),
  FOREIGN KEY (customer_id) REFERENCES customers (id));
CREATE TABLE coupons (
  code VARCHAR(20) PRIMARY KEY, percent_off DECIMAL(5,2) NOT NULL, valid_from DATE,
  valid_until DATE);
CREATE TABLE order_coupons (
  order_id BIGINT UNSIGNED NOT NULL, coupon_code VARCHAR(20) NOT NULL,
  PRIMARY KEY (order_id, coupon_code), FOREIGN KEY (order_id) REFERENCES orders (id),
  FOREIGN KEY (coupon_code) REFERENCES coupons (code));
CREATE TABLE sessions (
  id BINARY(16) PRIMARY KEY, customer_id INT NOT NULL, token VARCHAR(128) NOT NULL,
  expires_at DATETIME NOT NULL, FOREIGN KEY (customer_id) REFERENCES customers (id));
CREATE TABLE events (
  id BIGINT AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(40) NOT NULL, payload JSON,
  happened_at DATETIME(6) NOT NULL);
CREATE TABLE store_hours (
  warehouse_code CHAR(4) NOT NULL, weekday TINYINT NOT NULL, opens TIME, closes TIME,
  PRIMARY KEY (warehouse_code, weekday),
  FOREIGN KEY (warehouse_code) REFERENCES warehouses (code));
CREATE TABLE currencies (
  code CHAR(3) PRIMARY KEY, name VARCHAR(40) NOT NULL, rate DOUBLE NOT NULL DEFAULT 1,
  since YEAR);
CREATE TABLE devices (
  id UUID PRIMARY KEY, label VARCHAR(40), flags BIT(8), enabled BIT(1) NOT NULL DEFAULT b'1');
CREATE TABLE audit_log (id BIGINT PRIMARY KEY, raw VARBINARY(255), note MEDIUMTEXT);
CREATE VIEW order_totals AS
  SELECT o.id AS order_id, SUM(i.quantity * i.unit_price) AS total
  FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY o.id;
CREATE VIEW active_customers AS SELECT id, email, full_name FROM customers WHERE is_active;
INSERT INTO customers (email, full_name, phone, password_hash) VALUES
  ('ada@example.com', 'Ada Lovelace', '+44 20 1', '$2b$12$ada'),
  ('alan@example.com', 'Alan Turing', NULL, '$2b$12$alan'),
  ('grace@example.com', 'Grace Hopper', '+1 212 2', NULL);
ANALYZE TABLE customers;
"""

# name: (kind, primary key, foreign keys, columns (name, type, normalized, nullable, default))
MYSQL_EXPECTED: dict[str, tuple[str, tuple[str, ...], list[Any], list[Any]]] = {
    "active_customers": ("view", (), [], [
        ("id", "int(11)", "integer", False, "0"),
        ("email", "varchar(255)", "string", False, None),
        ("full_name", "varchar(100)", "string", True, None),
    ]),
    "addresses": ("table", ("id",), [(("customer_id",), "customers", ("id",))], [
        ("id", "int(11)", "integer", False, None),
        ("customer_id", "int(11)", "integer", False, None),
        ("line1", "varchar(200)", "string", True, None),
        ("city", "varchar(80)", "string", True, None),
        ("country", "char(2)", "string", True, "'DE'"),
    ]),
    "audit_log": ("table", ("id",), [], [
        ("id", "bigint(20)", "integer", False, None),
        ("raw", "varbinary(255)", "binary", True, None),
        ("note", "mediumtext", "text", True, None),
    ]),
    "categories": ("table", ("id",), [(("parent_id",), "categories", ("id",))], [
        ("id", "smallint(6)", "integer", False, None),
        ("parent_id", "smallint(6)", "integer", True, None),
        ("name", "varchar(80)", "string", False, None),
    ]),
    "coupons": ("table", ("code",), [], [
        ("code", "varchar(20)", "string", False, None),
        ("percent_off", "decimal(5,2)", "decimal", False, None),
        ("valid_from", "date", "date", True, None),
        ("valid_until", "date", "date", True, None),
    ]),
    "currencies": ("table", ("code",), [], [
        ("code", "char(3)", "string", False, None),
        ("name", "varchar(40)", "string", False, None),
        ("rate", "double", "float", False, "1"),
        ("since", "year(4)", "integer", True, None),
    ]),
    "customers": ("table", ("id",), [], [
        ("id", "int(11)", "integer", False, None),
        ("email", "varchar(255)", "string", False, None),
        ("full_name", "varchar(100)", "string", True, None),
        ("phone", "varchar(30)", "string", True, None),
        ("password_hash", "char(60)", "string", True, None),
        ("created_at", "datetime", "datetime", False, "current_timestamp()"),
        ("is_active", "tinyint(1)", "boolean", False, "1"),
    ]),
    "devices": ("table", ("id",), [], [
        ("id", "uuid", "uuid", False, None),
        ("label", "varchar(40)", "string", True, None),
        ("flags", "bit(8)", "other", True, None),
        ("enabled", "bit(1)", "boolean", False, "b'1'"),
    ]),
    "events": ("table", ("id",), [], [
        ("id", "bigint(20)", "integer", False, None),
        ("kind", "varchar(40)", "string", False, None),
        ("payload", "longtext", "json", True, None),
        ("happened_at", "datetime(6)", "datetime", False, None),
    ]),
    "order_coupons": ("table", ("order_id", "coupon_code"), [
        (("order_id",), "orders", ("id",)),
        (("coupon_code",), "coupons", ("code",)),
    ], [
        ("order_id", "bigint(20) unsigned", "integer", False, None),
        ("coupon_code", "varchar(20)", "string", False, None),
    ]),
    "order_items": ("table", ("order_id", "line_no"), [
        (("order_id",), "orders", ("id",)),
        (("product_id",), "products", ("id",)),
    ], [
        ("order_id", "bigint(20) unsigned", "integer", False, None),
        ("line_no", "smallint(6)", "integer", False, None),
        ("product_id", "int(11)", "integer", False, None),
        ("quantity", "int(11)", "integer", False, "1"),
        ("unit_price", "decimal(10,2)", "decimal", False, None),
    ]),
    "order_totals": ("view", (), [], [
        ("order_id", "bigint(20) unsigned", "integer", False, None),
        ("total", "decimal(42,2)", "decimal", True, None),
    ]),
    "orders": ("table", ("id",), [(("customer_id",), "customers", ("id",))], [
        ("id", "bigint(20) unsigned", "integer", False, None),
        ("customer_id", "int(11)", "integer", False, None),
        ("status", "enum('new','paid','shipped')", "string", False, "'new'"),
        ("ordered_at", "timestamp", "timestamptz", True, None),
        ("total", "decimal(12,2)", "decimal", True, None),
    ]),
    "payments": ("table", ("id",), [(("order_id",), "orders", ("id",))], [
        ("id", "int(11)", "integer", False, None),
        ("order_id", "bigint(20) unsigned", "integer", False, None),
        ("amount", "decimal(12,2)", "decimal", False, None),
        ("paid_at", "datetime", "datetime", True, None),
        ("method", "set('card','cash','wire')", "string", True, None),
    ]),
    "product_suppliers": ("table", ("product_id", "supplier_id"), [
        (("product_id",), "products", ("id",)),
        (("supplier_id",), "suppliers", ("id",)),
    ], [
        ("product_id", "int(11)", "integer", False, None),
        ("supplier_id", "int(11)", "integer", False, None),
        ("cost", "decimal(10,4)", "decimal", True, None),
    ]),
    "products": ("table", ("id",), [(("category_id",), "categories", ("id",))], [
        ("id", "int(11)", "integer", False, None),
        ("sku", "varchar(32)", "string", False, None),
        ("category_id", "smallint(6)", "integer", True, None),
        ("price", "decimal(10,2)", "decimal", False, "0.00"),
        ("weight_kg", "float", "float", True, None),
        ("rating", "double", "float", True, None),
        ("attributes", "longtext", "json", True, None),
        ("description", "text", "text", True, None),
        ("image", "mediumblob", "binary", True, None),
    ]),
    "refunds": ("table", ("id",), [(("payment_id",), "payments", ("id",))], [
        ("id", "int(11)", "integer", False, None),
        ("payment_id", "int(11)", "integer", False, None),
        ("amount", "decimal(12,2)", "decimal", False, None),
        ("reason", "tinytext", "text", True, None),
    ]),
    "reviews": ("table", ("id",), [
        (("product_id",), "products", ("id",)),
        (("customer_id",), "customers", ("id",)),
    ], [
        ("id", "int(11)", "integer", False, None),
        ("product_id", "int(11)", "integer", False, None),
        ("customer_id", "int(11)", "integer", False, None),
        ("stars", "tinyint(4)", "integer", False, None),
        ("body", "longtext", "text", True, None),
        ("posted_at", "timestamp", "timestamptz", False, "current_timestamp()"),
    ]),
    "sessions": ("table", ("id",), [(("customer_id",), "customers", ("id",))], [
        ("id", "binary(16)", "binary", False, None),
        ("customer_id", "int(11)", "integer", False, None),
        ("token", "varchar(128)", "string", False, None),
        ("expires_at", "datetime", "datetime", False, None),
    ]),
    "shipments": ("table", ("id",), [(("order_id",), "orders", ("id",))], [
        ("id", "int(11)", "integer", False, None),
        ("order_id", "bigint(20) unsigned", "integer", False, None),
        ("shipped_at", "datetime(3)", "datetime", True, None),
        ("tracking_token", "varchar(64)", "string", True, None),
    ]),
    "stock": ("table", ("warehouse_code", "product_id"), [
        (("warehouse_code",), "warehouses", ("code",)),
        (("product_id",), "products", ("id",)),
    ], [
        ("warehouse_code", "char(4)", "string", False, None),
        ("product_id", "int(11)", "integer", False, None),
        ("on_hand", "int(11)", "integer", False, "0"),
    ]),
    "store_hours": ("table", ("warehouse_code", "weekday"), [
        (("warehouse_code",), "warehouses", ("code",)),
    ], [
        ("warehouse_code", "char(4)", "string", False, None),
        ("weekday", "tinyint(4)", "integer", False, None),
        ("opens", "time", "time", True, None),
        ("closes", "time", "time", True, None),
    ]),
    "suppliers": ("table", ("id",), [], [
        ("id", "int(11)", "integer", False, None),
        ("name", "varchar(100)", "string", False, None),
        ("api_key", "varchar(64)", "string", True, None),
        ("contact_email", "varchar(255)", "string", True, None),
    ]),
    "warehouses": ("table", ("code",), [], [
        ("code", "char(4)", "string", False, None),
        ("name", "varchar(80)", "string", False, None),
        ("opened_on", "date", "date", True, None),
    ]),
}  # fmt: skip

# -- the shop, in PostgreSQL ------------------------------------------------------------------

POSTGRES_SHOP = """
CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped');
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE TABLE customers (
  id serial PRIMARY KEY, email varchar(255) NOT NULL, full_name varchar(100),
  phone varchar(30), password_hash char(60), created_at timestamptz NOT NULL DEFAULT now(),
  is_active boolean NOT NULL DEFAULT true);
CREATE TABLE addresses (
  id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers (id),
  line1 varchar(200), city varchar(80), country char(2) DEFAULT 'DE');
CREATE TABLE categories (
  id smallint PRIMARY KEY, parent_id smallint REFERENCES categories (id),
  name varchar(80) NOT NULL);
CREATE TABLE products (
  id integer PRIMARY KEY, sku varchar(32) NOT NULL UNIQUE,
  category_id smallint REFERENCES categories (id), price numeric(10,2) NOT NULL DEFAULT 0,
  weight_kg real, rating double precision, attributes jsonb, description text, image bytea);
CREATE TABLE orders (
  id bigint PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers (id),
  status order_status NOT NULL DEFAULT 'new', ordered_at timestamptz, total numeric(12,2));
CREATE TABLE order_items (
  order_id bigint NOT NULL REFERENCES orders (id), line_no smallint NOT NULL,
  product_id integer NOT NULL REFERENCES products (id),
  quantity positive_int NOT NULL DEFAULT 1, unit_price numeric(10,2) NOT NULL,
  PRIMARY KEY (order_id, line_no));
CREATE TABLE warehouses (code char(4) PRIMARY KEY, name varchar(80) NOT NULL, opened_on date);
CREATE TABLE stock (
  warehouse_code char(4) NOT NULL REFERENCES warehouses (code),
  product_id integer NOT NULL REFERENCES products (id), on_hand integer NOT NULL DEFAULT 0,
  PRIMARY KEY (warehouse_code, product_id));
CREATE TABLE shipments (
  id integer PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders (id),
  shipped_at timestamp(3), tracking_token varchar(64));
CREATE TABLE payments (
  id integer PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders (id),
  amount numeric(12,2) NOT NULL, paid_at timestamp, methods text[]);
CREATE TABLE refunds (
  id integer PRIMARY KEY, payment_id integer NOT NULL REFERENCES payments (id),
  amount money NOT NULL, reason text);
CREATE TABLE suppliers (
  id integer PRIMARY KEY, name varchar(100) NOT NULL, api_key varchar(64),
  contact_email varchar(255));
CREATE TABLE product_suppliers (
  product_id integer NOT NULL REFERENCES products (id),
  supplier_id integer NOT NULL REFERENCES suppliers (id), cost numeric(10,4),
  PRIMARY KEY (product_id, supplier_id));
CREATE TABLE reviews (
  id integer PRIMARY KEY, product_id integer NOT NULL REFERENCES products (id),
  customer_id integer NOT NULL REFERENCES customers (id), stars smallint NOT NULL, body text,
  posted_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE coupons (
  code varchar(20) PRIMARY KEY, percent_off numeric(5,2) NOT NULL, valid_during daterange,
  valid_from date);
CREATE TABLE order_coupons (
  order_id bigint NOT NULL REFERENCES orders (id),
  coupon_code varchar(20) NOT NULL REFERENCES coupons (code),
  PRIMARY KEY (order_id, coupon_code));
CREATE TABLE sessions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  customer_id integer NOT NULL REFERENCES customers (id), token varchar(128) NOT NULL,
  expires_at timestamp NOT NULL, client_ip inet);
CREATE TABLE events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind varchar(40) NOT NULL,
  payload json, happened_at timestamp(6) NOT NULL);
CREATE TABLE store_hours (
  warehouse_code char(4) NOT NULL REFERENCES warehouses (code), weekday smallint NOT NULL,
  opens time, closes time with time zone, PRIMARY KEY (warehouse_code, weekday));
CREATE TABLE currencies (
  code char(3) PRIMARY KEY, name text NOT NULL, rate double precision NOT NULL DEFAULT 1,
  valid_for interval);
CREATE TABLE devices (
  id uuid PRIMARY KEY, label varchar(40), flags bit(8), enabled boolean NOT NULL DEFAULT true);
CREATE TABLE audit_log (id bigint PRIMARY KEY, raw bytea, note text);
CREATE VIEW order_totals AS
  SELECT o.id AS order_id, sum(i.quantity * i.unit_price) AS total
  FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY o.id;
CREATE VIEW active_customers AS SELECT id, email, full_name FROM customers WHERE is_active;
INSERT INTO customers (email, full_name, phone, password_hash) VALUES
  ('ada@example.com', 'Ada Lovelace', '+44 20 1', '$2b$12$ada'),
  ('alan@example.com', 'Alan Turing', NULL, '$2b$12$alan'),
  ('grace@example.com', 'Grace Hopper', '+1 212 2', NULL);
ANALYZE customers;
"""

VARCHAR = "character varying"
POSTGRES_EXPECTED: dict[str, tuple[str, tuple[str, ...], list[Any], list[Any]]] = {
    "active_customers": ("view", (), [], [
        ("id", "integer", "integer", True, None),
        ("email", f"{VARCHAR}(255)", "string", True, None),
        ("full_name", f"{VARCHAR}(100)", "string", True, None),
    ]),
    "addresses": ("table", ("id",), [(("customer_id",), "customers", ("id",))], [
        ("id", "integer", "integer", False, None),
        ("customer_id", "integer", "integer", False, None),
        ("line1", f"{VARCHAR}(200)", "string", True, None),
        ("city", f"{VARCHAR}(80)", "string", True, None),
        ("country", "character(2)", "string", True, "'DE'::bpchar"),
    ]),
    "audit_log": ("table", ("id",), [], [
        ("id", "bigint", "integer", False, None),
        ("raw", "bytea", "binary", True, None),
        ("note", "text", "text", True, None),
    ]),
    "categories": ("table", ("id",), [(("parent_id",), "categories", ("id",))], [
        ("id", "smallint", "integer", False, None),
        ("parent_id", "smallint", "integer", True, None),
        ("name", f"{VARCHAR}(80)", "string", False, None),
    ]),
    "coupons": ("table", ("code",), [], [
        ("code", f"{VARCHAR}(20)", "string", False, None),
        ("percent_off", "numeric(5,2)", "decimal", False, None),
        ("valid_during", "daterange", "other", True, None),
        ("valid_from", "date", "date", True, None),
    ]),
    "currencies": ("table", ("code",), [], [
        ("code", "character(3)", "string", False, None),
        ("name", "text", "text", False, None),
        ("rate", "double precision", "float", False, "1"),
        ("valid_for", "interval", "other", True, None),
    ]),
    "customers": ("table", ("id",), [], [
        ("id", "integer", "integer", False, "nextval('{schema}.customers_id_seq'::regclass)"),
        ("email", f"{VARCHAR}(255)", "string", False, None),
        ("full_name", f"{VARCHAR}(100)", "string", True, None),
        ("phone", f"{VARCHAR}(30)", "string", True, None),
        ("password_hash", "character(60)", "string", True, None),
        ("created_at", "timestamp with time zone", "timestamptz", False, "now()"),
        ("is_active", "boolean", "boolean", False, "true"),
    ]),
    "devices": ("table", ("id",), [], [
        ("id", "uuid", "uuid", False, None),
        ("label", f"{VARCHAR}(40)", "string", True, None),
        ("flags", "bit(8)", "other", True, None),
        ("enabled", "boolean", "boolean", False, "true"),
    ]),
    "events": ("table", ("id",), [], [
        ("id", "bigint", "integer", False, None),
        ("kind", f"{VARCHAR}(40)", "string", False, None),
        ("payload", "json", "json", True, None),
        ("happened_at", "timestamp(6) without time zone", "datetime", False, None),
    ]),
    "order_coupons": ("table", ("order_id", "coupon_code"), [
        (("coupon_code",), "coupons", ("code",)),
        (("order_id",), "orders", ("id",)),
    ], [
        ("order_id", "bigint", "integer", False, None),
        ("coupon_code", f"{VARCHAR}(20)", "string", False, None),
    ]),
    "order_items": ("table", ("order_id", "line_no"), [
        (("order_id",), "orders", ("id",)),
        (("product_id",), "products", ("id",)),
    ], [
        ("order_id", "bigint", "integer", False, None),
        ("line_no", "smallint", "integer", False, None),
        ("product_id", "integer", "integer", False, None),
        ("quantity", "{schema}.positive_int", "integer", False, "1"),
        ("unit_price", "numeric(10,2)", "decimal", False, None),
    ]),
    "order_totals": ("view", (), [], [
        ("order_id", "bigint", "integer", True, None),
        ("total", "numeric", "decimal", True, None),
    ]),
    "orders": ("table", ("id",), [(("customer_id",), "customers", ("id",))], [
        ("id", "bigint", "integer", False, None),
        ("customer_id", "integer", "integer", False, None),
        ("status", "{schema}.order_status", "string", False, "'new'::{schema}.order_status"),
        ("ordered_at", "timestamp with time zone", "timestamptz", True, None),
        ("total", "numeric(12,2)", "decimal", True, None),
    ]),
    "payments": ("table", ("id",), [(("order_id",), "orders", ("id",))], [
        ("id", "integer", "integer", False, None),
        ("order_id", "bigint", "integer", False, None),
        ("amount", "numeric(12,2)", "decimal", False, None),
        ("paid_at", "timestamp without time zone", "datetime", True, None),
        ("methods", "text[]", "other", True, None),
    ]),
    "product_suppliers": ("table", ("product_id", "supplier_id"), [
        (("product_id",), "products", ("id",)),
        (("supplier_id",), "suppliers", ("id",)),
    ], [
        ("product_id", "integer", "integer", False, None),
        ("supplier_id", "integer", "integer", False, None),
        ("cost", "numeric(10,4)", "decimal", True, None),
    ]),
    "products": ("table", ("id",), [(("category_id",), "categories", ("id",))], [
        ("id", "integer", "integer", False, None),
        ("sku", f"{VARCHAR}(32)", "string", False, None),
        ("category_id", "smallint", "integer", True, None),
        ("price", "numeric(10,2)", "decimal", False, "0"),
        ("weight_kg", "real", "float", True, None),
        ("rating", "double precision", "float", True, None),
        ("attributes", "jsonb", "json", True, None),
        ("description", "text", "text", True, None),
        ("image", "bytea", "binary", True, None),
    ]),
    "refunds": ("table", ("id",), [(("payment_id",), "payments", ("id",))], [
        ("id", "integer", "integer", False, None),
        ("payment_id", "integer", "integer", False, None),
        ("amount", "money", "decimal", False, None),
        ("reason", "text", "text", True, None),
    ]),
    "reviews": ("table", ("id",), [
        (("customer_id",), "customers", ("id",)),
        (("product_id",), "products", ("id",)),
    ], [
        ("id", "integer", "integer", False, None),
        ("product_id", "integer", "integer", False, None),
        ("customer_id", "integer", "integer", False, None),
        ("stars", "smallint", "integer", False, None),
        ("body", "text", "text", True, None),
        ("posted_at", "timestamp with time zone", "timestamptz", False, "now()"),
    ]),
    "sessions": ("table", ("id",), [(("customer_id",), "customers", ("id",))], [
        ("id", "uuid", "uuid", False, "gen_random_uuid()"),
        ("customer_id", "integer", "integer", False, None),
        ("token", f"{VARCHAR}(128)", "string", False, None),
        ("expires_at", "timestamp without time zone", "datetime", False, None),
        ("client_ip", "inet", "other", True, None),
    ]),
    "shipments": ("table", ("id",), [(("order_id",), "orders", ("id",))], [
        ("id", "integer", "integer", False, None),
        ("order_id", "bigint", "integer", False, None),
        ("shipped_at", "timestamp(3) without time zone", "datetime", True, None),
        ("tracking_token", f"{VARCHAR}(64)", "string", True, None),
    ]),
    "stock": ("table", ("warehouse_code", "product_id"), [
        (("product_id",), "products", ("id",)),
        (("warehouse_code",), "warehouses", ("code",)),
    ], [
        ("warehouse_code", "character(4)", "string", False, None),
        ("product_id", "integer", "integer", False, None),
        ("on_hand", "integer", "integer", False, "0"),
    ]),
    "store_hours": ("table", ("warehouse_code", "weekday"), [
        (("warehouse_code",), "warehouses", ("code",)),
    ], [
        ("warehouse_code", "character(4)", "string", False, None),
        ("weekday", "smallint", "integer", False, None),
        ("opens", "time without time zone", "time", True, None),
        ("closes", "time with time zone", "time", True, None),
    ]),
    "suppliers": ("table", ("id",), [], [
        ("id", "integer", "integer", False, None),
        ("name", f"{VARCHAR}(100)", "string", False, None),
        ("api_key", f"{VARCHAR}(64)", "string", True, None),
        ("contact_email", f"{VARCHAR}(255)", "string", True, None),
    ]),
    "warehouses": ("table", ("code",), [], [
        ("code", "character(4)", "string", False, None),
        ("name", f"{VARCHAR}(80)", "string", False, None),
        ("opened_on", "date", "date", True, None),
    ]),
}  # fmt: skip

CUSTOMER_SAMPLES = [
    {"id": 1, "email": "***", "full_name": "Ada Lovelace", "phone": "***",
     "password_hash": "***", "is_active": True},
    {"id": 2, "email": "***", "full_name": "Alan Turing", "phone": None,
     "password_hash": "***", "is_active": True},
]  # fmt: skip


def shape(catalog: Catalog) -> dict[str, tuple[str, tuple[str, ...], list[Any], list[Any]]]:
    """A catalog in the notation of the expectations above."""
    return {
        t.name: (
            t.kind,
            t.primary_key,
            [(fk.columns, fk.ref_table, fk.ref_columns) for fk in t.foreign_keys],
            [(c.name, c.type, c.normalized_type, c.nullable, c.default) for c in t.columns],
        )
        for t in catalog.tables
    }


def in_schema(expected: Any, schema: str) -> Any:
    """The expectations with `{schema}` filled in (PostgreSQL qualifies types and sequences)."""
    if isinstance(expected, str):
        return expected.replace("{schema}", schema)
    if isinstance(expected, tuple | list):
        return type(expected)(in_schema(item, schema) for item in expected)
    if isinstance(expected, dict):
        return {key: in_schema(value, schema) for key, value in expected.items()}
    return expected


def run_mysql(fields: dict[str, Any], script: str) -> None:
    import pymysql

    conn = pymysql.connect(**fields, autocommit=True)
    try:
        with conn.cursor() as cur:
            for statement in filter(str.strip, script.split(";")):
                cur.execute(statement)
                cur.fetchall()
    finally:
        conn.close()


def run_postgres(fields: dict[str, Any], script: str) -> None:
    import psycopg

    conninfo = "host={host} port={port} user={user} dbname={database}".format(**fields)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{fields["schema"]}"')
        conn.execute(script.encode())


@pytest.fixture
def mysql_shop(mysql_db: dict[str, Any]) -> Connection:
    run_mysql(mysql_db, MYSQL_SHOP)
    return Connection("mysql", "shop", mysql_db)


@pytest.fixture
def pg_shop(pg_db: dict[str, Any]) -> Connection:
    run_postgres(pg_db, POSTGRES_SHOP)
    return Connection("postgres", "shop", pg_db)


# -- MySQL / MariaDB --------------------------------------------------------------------------


def test_mysql_shop_is_read_exactly(mysql_shop: Connection) -> None:
    catalog = discover(mysql_shop)

    assert catalog.connection == "@mysql.shop"
    assert catalog.family == "mysql"
    assert catalog.default_schema == mysql_shop.fields["database"]
    assert len(catalog.tables) == 24
    assert shape(catalog) == MYSQL_EXPECTED
    assert {t.schema_name for t in catalog.tables} == {mysql_shop.fields["database"]}


def test_mysql_row_counts_and_sizes_come_from_statistics(mysql_shop: Connection) -> None:
    tables = {t.name: t for t in discover(mysql_shop).tables}

    assert tables["customers"].row_estimate == 3  # analyzed
    assert tables["orders"].row_estimate == 0
    assert (tables["order_totals"].row_estimate, tables["order_totals"].size_bytes) == (None, None)
    assert tables["customers"].size_bytes == 16384  # one InnoDB page


def test_mysql_tables_filter_takes_names_and_globs(mysql_shop: Connection) -> None:
    def names(*patterns: str) -> list[str]:
        catalog = discover(mysql_shop, DiscoveryOptions(tables=patterns))
        return [t.name for t in catalog.tables]

    assert names("order*") == ["order_coupons", "order_items", "order_totals", "orders"]
    assert names("CUSTOMERS", "*.active_*") == ["active_customers", "customers"]
    assert names("store_hour?", "nothing_like_this") == ["store_hours"]
    assert names("missing") == []


def test_mysql_samples_mask_secret_looking_columns(mysql_shop: Connection) -> None:
    catalog = discover(mysql_shop, DiscoveryOptions(tables=("customers", "active_*"), samples=2))
    customers, view = catalog.table("customers"), catalog.table("active_customers")
    assert customers is not None and view is not None

    rows = [{k: v for k, v in row.items() if k != "created_at"} for row in customers.samples]
    assert rows == [dict(row, is_active=1) for row in CUSTOMER_SAMPLES]
    assert view.samples == ()  # views are not sampled: one may be an expensive query


def test_mysql_session_is_read_only(mysql_shop: Connection) -> None:
    from runtime.discovery import _open

    with (
        _open(mysql_shop, None) as reader,
        reader.conn.cursor() as cur,  # type: ignore[attr-defined]
        pytest.raises(Exception, match="READ ONLY"),
    ):
        cur.execute("INSERT INTO warehouses (code, name) VALUES ('W1', 'written')")


def test_mysql_fingerprint_follows_the_columns(mysql_shop: Connection) -> None:
    orders = DiscoveryOptions(tables=("orders",))
    before, orders_before = (
        snapshot(mysql_shop).fingerprint,
        snapshot(mysql_shop, orders).fingerprint,
    )
    assert snapshot_if_changed(mysql_shop, None, before) is None
    run_mysql(mysql_shop.fields, "INSERT INTO warehouses (code, name) VALUES ('W1', 'data')")
    assert snapshot_if_changed(mysql_shop, None, before) is None  # rows are not schema
    run_mysql(mysql_shop.fields, "ALTER TABLE warehouses ADD COLUMN city VARCHAR(40)")
    assert snapshot_if_changed(mysql_shop, orders, orders_before) is None  # filtered out

    changed = snapshot_if_changed(mysql_shop, None, before)
    assert changed is not None and changed.fingerprint != before
    warehouses = changed.catalog.table("warehouses")
    assert warehouses is not None and [c.name for c in warehouses.columns][-1] == "city"


# -- PostgreSQL -------------------------------------------------------------------------------


def test_postgres_shop_is_read_exactly(pg_shop: Connection) -> None:
    schema = pg_shop.fields["schema"]
    catalog = discover(pg_shop)

    assert catalog.connection == "@postgres.shop"
    assert catalog.default_schema == schema
    assert len(catalog.tables) == 24
    assert shape(catalog) == in_schema(POSTGRES_EXPECTED, schema)


def test_supabase_reads_the_same_through_a_dsn(pg_shop: Connection) -> None:
    fields = pg_shop.fields
    dsn = "postgresql://{user}@{host}:{port}/{database}".format(**fields)
    supabase = Connection("supabase", "db", {"pg_dsn": dsn, "schema": fields["schema"]})

    catalog = discover(supabase)
    assert (catalog.connection, catalog.family) == ("@supabase.db", "supabase")
    assert shape(catalog) == in_schema(POSTGRES_EXPECTED, fields["schema"])


def test_postgres_row_counts_come_from_statistics(pg_shop: Connection) -> None:
    tables = {t.name: t for t in discover(pg_shop).tables}

    assert (tables["customers"].row_estimate, tables["customers"].size_bytes) == (3, 8192)
    assert (tables["orders"].row_estimate, tables["orders"].size_bytes) == (None, None)  # never
    assert (tables["order_totals"].row_estimate, tables["order_totals"].size_bytes) == (None, None)


def test_postgres_samples_mask_secret_looking_columns(pg_shop: Connection) -> None:
    options = DiscoveryOptions(tables=("customers",), samples=2)
    (customers,) = discover(pg_shop, options).tables

    rows = [{k: v for k, v in row.items() if k != "created_at"} for row in customers.samples]
    assert rows == CUSTOMER_SAMPLES


def test_postgres_missing_schema_is_a_config_error(pg_db: dict[str, Any]) -> None:
    connection = Connection("postgres", "main", {**pg_db, "schema": "no_such_schema"})
    with pytest.raises(DiscoveryError) as caught:
        discover(connection)
    assert caught.value.category == "config"
    assert caught.value.message == '@postgres.main: schema "no_such_schema" does not exist'


def test_postgres_session_is_read_only(pg_shop: Connection) -> None:
    from runtime.discovery import _open

    table = f'"{pg_shop.fields["schema"]}".warehouses'
    with (
        _open(pg_shop, None) as reader,
        pytest.raises(Exception, match="read-only transaction"),
    ):
        reader.conn.execute(f"INSERT INTO {table} VALUES ('W1', 'x')")  # type: ignore[attr-defined]


# -- failures: category and hint, never a secret, within the timeout ---------------------------


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def failure(connection: Connection, timeout_s: float) -> tuple[DiscoveryError, float]:
    started = time.monotonic()
    with pytest.raises(DiscoveryError) as caught:
        discover(connection, DiscoveryOptions(timeout_s=timeout_s))
    return caught.value, time.monotonic() - started


@pytest.mark.parametrize("family", ["mysql", "postgres"])
def test_unreachable_port_is_a_network_error(family: str) -> None:
    fields = {"host": "127.0.0.1", "port": closed_port(), "user": "u", "database": "d"}
    error, elapsed = failure(Connection(family, "down", fields), timeout_s=3)

    assert error.category == "network"
    assert error.message.startswith(f"@{family}.down: ")
    assert "Connection refused" in error.message
    assert error.hint == (
        f"check the host and port of @{family}.down, and that the server runs and is reachable"
    )
    assert elapsed < 3


@pytest.mark.parametrize(("family", "timeout_s"), [("mysql", 1), ("postgres", 2)])
def test_a_silent_server_is_a_timeout(family: str, timeout_s: float, silent_server: int) -> None:
    fields = {"host": "127.0.0.1", "port": silent_server, "user": "u", "database": "d"}
    error, elapsed = failure(Connection(family, "slow", fields), timeout_s=timeout_s)

    assert error.category == "timeout"
    assert error.hint.startswith(f"no answer within {timeout_s:g} s: check the host, port")
    assert timeout_s - 0.2 < elapsed < timeout_s + 1.5  # PostgreSQL's minimum is 2 s


@pytest.fixture
def mysql_canary_user(mysql_db: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A MariaDB user with a canary password and no privilege at all; dropped after."""
    name = f"osiris_c_{uuid.uuid4().hex[:8]}"
    password = f"Canary-{uuid.uuid4().hex}"
    run_mysql(mysql_db, f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'")
    try:
        yield {**mysql_db, "user": name, "password": password}
    finally:
        run_mysql(mysql_db, f"DROP USER IF EXISTS '{name}'@'%'")


def test_wrong_password_is_an_auth_error_without_the_password(
    mysql_canary_user: dict[str, Any],
) -> None:
    wrong = mysql_canary_user["password"] + "-wrong"
    fields = {**mysql_canary_user, "password": wrong}
    error, elapsed = failure(Connection("mysql", "main", fields, frozenset({wrong})), 5)

    assert error.category == "auth"
    assert error.message == (
        f"@mysql.main: Access denied for user '{fields['user']}'@'127.0.0.1' (using password: YES)"
    )
    assert error.hint == (
        "check the user and password of @mysql.main in osiris_connections.yaml "
        "(or the environment variable they come from)"
    )
    assert "Canary" not in error.message + error.hint + str(error)
    assert elapsed < 5


def test_no_privilege_is_a_permission_error(mysql_canary_user: dict[str, Any]) -> None:
    error, _ = failure(Connection("mysql", "main", mysql_canary_user), 5)

    assert error.category == "permission"
    assert error.message == (
        f"@mysql.main: Access denied for user '{mysql_canary_user['user']}'@'%' "
        f"to database '{mysql_canary_user['database']}'"
    )
    assert mysql_canary_user["password"] not in str(error.to_dict())


def test_postgres_role_without_schema_usage_is_a_permission_error(pg_db: dict[str, Any]) -> None:
    role = f"osiris_c_{uuid.uuid4().hex[:8]}"
    run_postgres(pg_db, f"CREATE ROLE {role} LOGIN")
    try:
        error, _ = failure(Connection("postgres", "main", {**pg_db, "user": role}), 5)
    finally:
        run_postgres(pg_db, f"DROP ROLE {role}")

    assert error.category == "permission"
    assert error.message == f'@postgres.main: permission denied for schema "{pg_db["schema"]}"'


def test_unknown_database_is_a_config_error(mysql_db: dict[str, Any]) -> None:
    error, _ = failure(Connection("mysql", "main", {**mysql_db, "database": "no_such_db"}), 5)
    assert (error.category, error.message) == (
        "config",
        "@mysql.main: Unknown database 'no_such_db'",
    )


def test_unsupported_family_is_a_config_error() -> None:
    error, _ = failure(Connection("oracle", "erp", {}), 1)
    assert error.category == "config"
    assert error.message == "@oracle.erp: discovery does not support the oracle family"
    assert error.hint == (
        "discoverable families: duckdb, filesystem, mariadb, mysql, postgres, postgresql, "
        "posthog, supabase"
    )


def test_scrubbed_errors_carry_no_secret() -> None:
    error = DiscoveryError("bad dsn postgresql://u:s3cr3t-pw@h/db", "config", "not s3cr3t-pw")
    assert error.scrubbed({"s3cr3t-pw"}).to_dict() == {
        "message": "bad dsn postgresql://u:***@h/db",
        "category": "config",
        "hint": "not ***",
    }


# -- DuckDB file and CSV folder ---------------------------------------------------------------


def test_duckdb_file_is_read_exactly(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("""
            CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR NOT NULL,
                                    balance DECIMAL(10,2) DEFAULT 0, joined TIMESTAMPTZ);
            CREATE TABLE visits (customer_id INTEGER REFERENCES customers (id), day DATE,
                                 seconds DOUBLE, meta JSON, raw BLOB, tags VARCHAR[],
                                 PRIMARY KEY (customer_id, day));
            CREATE VIEW big_spenders AS SELECT id FROM customers WHERE balance > 100;
            CREATE SCHEMA staging;
            CREATE TABLE staging.loads (id UUID, ts TIMESTAMP, ok BOOLEAN, t TIME, n HUGEINT);
            INSERT INTO customers VALUES (1, 'a@example.com', 5.5, NULL), (2, 'b@x.org', 0, NULL);
        """)
    connection = Connection("duckdb", "local", {"path": str(path)})

    catalog = discover(connection, DiscoveryOptions(samples=5))
    assert shape(catalog) == {
        "big_spenders": ("view", (), [], [("id", "INTEGER", "integer", True, None)]),
        "customers": ("table", ("id",), [], [
            ("id", "INTEGER", "integer", False, None),
            ("email", "VARCHAR", "string", False, None),
            ("balance", "DECIMAL(10,2)", "decimal", True, "0"),
            ("joined", "TIMESTAMP WITH TIME ZONE", "timestamptz", True, None),
        ]),
        "visits": ("table", ("customer_id", "day"), [(("customer_id",), "customers", ("id",))], [
            ("customer_id", "INTEGER", "integer", False, None),
            ("day", "DATE", "date", False, None),
            ("seconds", "DOUBLE", "float", True, None),
            ("meta", "JSON", "json", True, None),
            ("raw", "BLOB", "binary", True, None),
            ("tags", "VARCHAR[]", "other", True, None),
        ]),
    }  # fmt: skip
    customers = catalog.table("customers")
    assert customers is not None and customers.row_estimate == 2
    assert customers.samples == (
        {"id": 1, "email": "***", "balance": "5.50", "joined": None},
        {"id": 2, "email": "***", "balance": "0.00", "joined": None},
    )

    staging = discover(connection, DiscoveryOptions(schemas=("staging",)))
    assert shape(staging) == {
        "loads": ("table", (), [], [
            ("id", "UUID", "uuid", True, None),
            ("ts", "TIMESTAMP", "datetime", True, None),
            ("ok", "BOOLEAN", "boolean", True, None),
            ("t", "TIME", "time", True, None),
            ("n", "HUGEINT", "integer", True, None),
        ]),
    }  # fmt: skip


def test_duckdb_missing_file_is_a_config_error(tmp_path: Path) -> None:
    error, _ = failure(Connection("duckdb", "local", {"path": str(tmp_path / "nope.db")}), 1)
    assert error.category == "config"
    assert error.hint == "set `path` to an existing DuckDB database file"


def test_csv_folder_is_read_with_the_sniffer(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(
        "id,customer_email,amount,ordered_on,paid\n"
        "1,a@example.com,10.50,2024-01-02,true\n"
        "2,b@example.com,7.25,2024-01-03,false\n"
    )
    (tmp_path / "2024").mkdir()
    (tmp_path / "2024" / "visits.CSV").write_text("visitor;seen_at\nx;2024-05-01 10:00:00\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "skip.csv").write_text("a\n1\n")
    (tmp_path / "notes.txt").write_text("not a table")
    connection = Connection("filesystem", "files", {"base_dir": str(tmp_path)})

    catalog = discover(connection, DiscoveryOptions(samples=1))
    assert shape(catalog) == {
        "2024/visits.CSV": ("file", (), [], [
            ("visitor", "VARCHAR", "string", True, None),
            ("seen_at", "TIMESTAMP", "datetime", True, None),
        ]),
        "orders.csv": ("file", (), [], [
            ("id", "BIGINT", "integer", True, None),
            ("customer_email", "VARCHAR", "string", True, None),
            ("amount", "DOUBLE", "float", True, None),
            ("ordered_on", "DATE", "date", True, None),
            ("paid", "BOOLEAN", "boolean", True, None),
        ]),
    }  # fmt: skip
    orders = catalog.table("orders.csv")
    assert orders is not None
    assert (orders.schema_name, orders.row_estimate, orders.size_bytes) == ("", 2, 117)
    assert orders.samples == (
        {"id": 1, "customer_email": "***", "amount": 10.5, "ordered_on": "2024-01-02",
         "paid": True},
    )  # fmt: skip
    assert [t.name for t in discover(connection, DiscoveryOptions(tables=("orders",))).tables] == [
        "orders.csv"
    ]


def test_csv_row_estimate_of_a_large_file_is_sampled(tmp_path: Path) -> None:
    lines = [f"{i:08d},{'x' * 30}" for i in range(20_000)]
    (tmp_path / "big.csv").write_text("id_number,padding_text\n" + "\n".join(lines) + "\n")

    (big,) = discover(Connection("filesystem", "files", {"base_dir": str(tmp_path)})).tables
    assert big.size_bytes == 23 + 20_000 * 40
    assert big.row_estimate is not None and abs(big.row_estimate - 20_000) <= 20  # ±0.1 %


def test_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    error, _ = failure(Connection("filesystem", "f", {"base_dir": str(tmp_path / "gone")}), 1)
    assert error.category == "config"
    assert error.message == f"@filesystem.f: no folder at {str(tmp_path / 'gone')!r}"


# -- names and identities ---------------------------------------------------------------------


def test_secret_and_personal_column_names() -> None:
    masked = ["password", "user_passwd", "api_key", "apiKey", "access_token", "client_secret",
              "email", "contactEmail", "phone_number", "mobile", "ssn", "card_number",
              "date_of_birth", "auth_code", "iban", "home_address", "pwd"]  # fmt: skip
    kept = ["id", "author", "name", "full_name", "amount", "created_at", "session_id"]
    assert [name for name in masked if not is_sensitive(name)] == []
    assert [name for name in kept if is_sensitive(name)] == []


def test_connection_identity_leaves_secrets_out() -> None:
    supabase = Connection(
        "supabase", "prod", {"url": "https://abcd1234.supabase.co", "password": "pw-1"}
    )
    dsn = Connection(
        "supabase", "pool", {"pg_dsn": "postgresql://app:pw-2@pool.example.com:6543/app"}
    )
    assert connection_identity(supabase) == {
        "family": "supabase",
        "host": "db.abcd1234.supabase.co",
        "port": None,
        "database": "postgres",
        "schema": None,
        "user": "postgres",
    }
    assert connection_identity(dsn) == {
        "family": "supabase",
        "host": "pool.example.com",
        "port": 6543,
        "database": "app",
        "schema": None,
        "user": "app",
    }


def test_docstring_examples() -> None:
    import doctest

    import runtime.discovery

    result = doctest.testmod(runtime.discovery)
    assert result.attempted > 0 and result.failed == 0
