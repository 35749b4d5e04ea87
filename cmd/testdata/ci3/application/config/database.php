<?php
defined('BASEPATH') OR exit('No direct script access allowed');
$active_group = 'default';
$query_builder = TRUE;

$db['default'] = array(
	'dsn'	=> '',
	'hostname' => '10.0.0.5',
	'username' => 'app',
	'password' => 's3cret',
	'database' => 'shop',
	'dbdriver' => 'mysqli',
	'dbprefix' => '',
	'pconnect' => FALSE,
	'db_debug' => (ENVIRONMENT !== 'production'),
	'port' => 3307,
);
$db['reports'] = [
	'hostname' => 'pg.internal',
	'username' => 'rep',
	'password' => '',
	'database' => 'reports',
	'dbdriver' => 'postgre',
];
