"""Single sign-on with OpenID Connect providers: sign in, register, link and unlink."""
