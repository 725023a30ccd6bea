package main
import (
 _ "github.com/warthog618/modem/at"
 _ "github.com/warthog618/modem/gsm"
 _ "github.com/warthog618/sms"
 _ "go.bug.st/serial"
 _ "github.com/labstack/echo/v4"
 _ "go.etcd.io/bbolt"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "github.com/prometheus/client_golang/prometheus/testutil"
 _ "github.com/nyaruka/phonenumbers"
 _ "golang.org/x/time/rate"
 _ "go.yaml.in/yaml/v3"
 _ "github.com/creack/pty"
 _ "github.com/getkin/kin-openapi/openapi3"
 _ "github.com/oklog/ulid/v2"
)
func main(){}
