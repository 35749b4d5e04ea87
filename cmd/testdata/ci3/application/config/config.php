<?php
defined('BASEPATH') OR exit('No direct script access allowed');

/*
| A trimmed CodeIgniter 3.1.13 config.php: the session part as the
| framework ships it, with an app's values.
*/
$config['base_url'] = '';
$config['index_page'] = 'index.php';
$config['encryption_key'] = getenv('APP_KEY'); // not a literal: reported only if used

/*
|--------------------------------------------------------------------------
| Session Variables
|--------------------------------------------------------------------------
*/
$config['sess_driver'] = 'files';
$config['sess_cookie_name'] = "myapp_sess";
$config['sess_samesite'] = 'Lax';
$config['sess_expiration'] = 3600;
$config['sess_save_path'] = APPPATH . 'cache/sessions';
$config['sess_match_ip'] = FALSE;
$config['sess_time_to_update'] = 300;
$config['sess_regenerate_destroy'] = FALSE;

# the redis variant, commented out:
# $config['sess_driver'] = 'redis';
